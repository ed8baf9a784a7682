async function refresh(){
  const r = await fetch(PAGE.api, {credentials:'same-origin'}); if(!r.ok) return;
  const d = await r.json(); let running = 0;
  for (const b of d.batches){
    const tr = document.querySelector(`tr[data-batch="${CSS.escape(b.batch_id)}"]`); if(!tr) continue;
    tr.dataset.status = b.status; if (b.status === 'running') running++;
    tr.querySelector('.st').innerHTML = badge(b.status);
    tr.querySelector('.dur').textContent = b.status === 'running' ? 'running' : duration(b.duration_seconds);
    tr.querySelector('.prog').innerHTML = bar(b.completed_tables, b.total_tables, b.failed_tables);
    tr.querySelector('.failed').textContent = b.failed_tables;
  }
  document.getElementById('asof').textContent = 'Refreshed ' + new Date().toISOString().slice(11,19) + ' UTC.';
  if (!running) clearInterval(window.liveTimer);
}
window.startLive = () => { clearInterval(window.liveTimer); window.liveTimer = setInterval(refresh, 3000); };
if (document.querySelector('tr[data-status="running"]')) window.startLive();
