const PAGE = JSON.parse((document.getElementById('page-data') || {}).textContent || '{}');
const BADGES = {{ badges|tojson }};
function esc(s){return String(s ?? '').replace(/[&<>"']/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]));}
function badge(s){const c = BADGES[s] || ['#f3f4f6','#374151'];
  return `<span class="badge" style="background:${c[0]};color:${c[1]}" data-status="${esc(s)}">${esc(s)}</span>`;}
// as include/common/text.py format_duration: under a minute "0.42 s", from it on HH:MM:SS
function duration(sec){if(sec === null || sec === undefined || sec === '' || !isFinite(sec)) return '-';
  sec = Number(sec); const cs = Math.round(Math.abs(sec)*100)/100, sign = sec < 0 && cs ? '-' : '';
  if (cs < {{ fraction_limit }}) return sign + cs.toFixed(2) + ' s';
  const t = Math.round(Math.abs(sec)), h = Math.floor(t/3600), m = Math.floor(t%3600/60), s = t%60;
  return sign+String(h).padStart(2,'0')+':'+String(m).padStart(2,'0')+':'+String(s).padStart(2,'0');}
function num(n){return n === null || n === undefined ? '-' : Number(n).toLocaleString('en-US');}
function ts(iso){return iso ? iso.replace('T',' ').replace(/\.\d+Z$/,'') : '-';}
function bar(done,total,failed){const p = total ? 100*done/total : 0, f = total ? 100*failed/total : 0;
  return `<span class="bar"><i class="f" style="width:${f.toFixed(1)}%"></i><i style="width:${p.toFixed(1)}%"></i></span>`+
         `<span class="prog-text">${done}/${total} (${Math.round(p)}%)</span>`;}
async function act(button){
  const out = document.getElementById('action-result');
  button.disabled = true; out.className = ''; out.textContent = '';
  try {
    const r = await fetch(button.dataset.url, {method:'POST', credentials:'same-origin',
                          headers:{'Content-Type':'application/json'}, body:'{}'});
    const d = await r.json().catch(() => ({detail: r.statusText}));
    out.className = r.ok ? 'ok' : 'no';
    out.textContent = r.ok ? d.message : `${r.status}: ${typeof d.detail === 'string' ? d.detail : JSON.stringify(d.detail)}`;
    if (r.ok && window.startLive) window.startLive(true);
  } catch (e) { out.className = 'no'; out.textContent = String(e); }
  button.disabled = false;
}
document.querySelectorAll('button[data-url]').forEach(b => b.addEventListener('click', () => act(b)));
