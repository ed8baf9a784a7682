// Reconnect of the selected sessions: one request, one line per session in the answer.
const picks = () => [...document.querySelectorAll('input.pick:checked')].map(c => Number(c.value));
const selected = document.getElementById('reconnect-selected');
function pickChanged(){ selected.disabled = picks().length === 0; }
document.querySelectorAll('input.pick').forEach(c => c.addEventListener('change', pickChanged));
document.getElementById('select-all').addEventListener('change', e => {
  document.querySelectorAll('input.pick').forEach(c => { c.checked = e.target.checked; }); pickChanged(); });
selected.addEventListener('click', async () => {
  const out = document.getElementById('action-result');
  selected.disabled = true; out.className = ''; out.textContent = '';
  try {
    const r = await fetch(PAGE.reconnect, {method:'POST', credentials:'same-origin',
                          headers:{'Content-Type':'application/json'}, body: JSON.stringify({accounts: picks()})});
    const d = await r.json().catch(() => ({detail: r.statusText}));
    out.className = r.ok && d.asked ? 'ok' : 'no';
    if (!r.ok) { out.textContent = `${r.status}: ${typeof d.detail === 'string' ? d.detail : JSON.stringify(d.detail)}`; }
    else { out.innerHTML = `<b>${d.asked} of ${d.results.length} session(s) asked to reconnect.</b><ul>` +
      d.results.map(x => `<li class="${x.ok ? 'ok' : 'no'}">${esc(x.message)}</li>`).join('') + '</ul>'; }
  } catch (e) { out.className = 'no'; out.textContent = String(e); }
  pickChanged();
});
