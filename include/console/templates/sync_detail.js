async function refresh(){
  const r = await fetch(PAGE.api, {credentials:'same-origin'}); if(!r.ok) return;
  const d = await r.json();
  document.getElementById('truth').innerHTML = `<b>${d.completed_tables} of ${d.total_tables} tables, ` +
    `${d.progress_percentage.toFixed(1)} %</b> — true as of ${esc(ts(d.as_of))} UTC (counted from the progress rows)`;
  document.getElementById('s-status').innerHTML = badge(d.status);
  const lines = d.stuck_lines || [], why = lines.slice(1).map(l =>
    `<li class="${l.startsWith('fix:') ? 'fix' : 'why'}">${esc(l.replace(/^- /, ''))}</li>`).join('');
  document.getElementById('stuck-slot').innerHTML = lines.length ?
    `<div class="stuck" id="stuck"><b>${esc(lines[0])}</b>${why ? '<ul>' + why + '</ul>' : ''}</div>` : '';
  document.getElementById('s-duration').textContent = d.status === 'running' ? 'running' : duration(d.duration_seconds);
  for (const [k, v] of [['s-completed', d.completed_tables], ['s-failed', d.failed_tables],
       ['s-running', d.in_progress_tables], ['s-pending', d.pending_tables], ['s-skipped', num(d.skipped_tables)],
       ['s-records', num(d.records_processed)]]) document.getElementById(k).textContent = v;
  for (const t of d.tables){
    const tr = document.querySelector(`tr[data-key="${CSS.escape(t.connection_name + '|' + t.table_name)}"]`);
    if(!tr) continue; tr.dataset.status = t.status;
    tr.querySelector('.st').innerHTML = badge(t.status);
    tr.querySelector('.p').textContent = num(t.records_processed);
    tr.querySelector('.k').textContent = num(t.records_skipped);
    tr.querySelector('.x').textContent = num(t.records_deleted);
    tr.querySelector('.dur').textContent = t.status === 'in_progress' ? 'running' : duration(t.duration_seconds);
    tr.querySelector('.r').textContent = num(t.retry_count);
    tr.querySelector('.err').textContent = t.error_message || '';
  }
  const resume = document.getElementById('resume');
  if (resume) resume.style.display = ['failed','interrupted'].includes(d.status) ? '' : 'none';
  if (d.status !== 'running' && !window.waitForRun) clearInterval(window.liveTimer);
  if (d.status === 'running') window.waitForRun = false;
}
window.startLive = (afterAction) => { window.waitForRun = !!afterAction; clearInterval(window.liveTimer);
  window.liveTimer = setInterval(refresh, 3000); if (afterAction) setTimeout(() => { window.waitForRun = false; }, 120000); };
if (PAGE.status === 'running') window.startLive();
