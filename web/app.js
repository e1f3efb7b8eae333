/* app.js: the Marquee web console (docs/console.md). One file, no framework, no network beyond
 * the server that served it. Routes on location.pathname:
 *   /ui/members/{id}      the member's homepage as rows of cards, "why this", Play
 *   /ui/experiments[/{n}] online experiments (/v1/experiments) or `xp analyze --json` reports
 *   /ui/models            loaded models (/metrics) and `marquee eval --json` reports
 *   /ui/abr               `marquee abr --json` reports
 * Charts are SVG drawn here (see docs/console.md for why). Every string from the server goes
 * into the DOM as text (textContent / createTextNode), never as HTML. */
'use strict';

const SVGNS = 'http://www.w3.org/2000/svg';
const $ = (sel, root = document) => root.querySelector(sel);

/* ---- small DOM helpers ---- */
function h(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const k of kids.flat()) if (k !== null && k !== undefined) e.append(k instanceof Node ? k : String(k));
  return e;
}
function s(tag, attrs, ...kids) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) e.setAttribute(k, String(v));
  for (const k of kids.flat()) if (k !== null && k !== undefined) e.append(k instanceof Node ? k : String(k));
  return e;
}
function fmt(x, d = 3) {
  if (x === null || x === undefined || Number.isNaN(x)) return '–';
  if (typeof x !== 'number') return String(x);
  if (Number.isInteger(x) && Math.abs(x) < 1e9) return String(x);
  return Math.abs(x) >= 1000 ? x.toFixed(0) : x.toPrecision(d);
}
function setStatus(msg) { $('#status').textContent = msg || ''; }

/* ---- API ---- */
function apiKey() { return sessionStorage.getItem('mq_key') || ''; }
async function api(path, opts = {}) {
  const headers = Object.assign({}, opts.headers || {});
  if (apiKey()) headers.Authorization = 'Bearer ' + apiKey();
  if (opts.body) headers['Content-Type'] = 'application/json';
  const r = await fetch(path, Object.assign({}, opts, { headers }));
  const text = await r.text();
  let body = null;
  try { body = text && (r.headers.get('Content-Type') || '').includes('json') ? JSON.parse(text) : text; }
  catch (e) { body = text; }
  if (!r.ok) {
    const msg = body && body.error ? body.error.message : (r.status + ' ' + r.statusText);
    const err = new Error(msg);
    err.status = r.status;
    throw err;
  }
  return body;
}
let reportsCache = null;
async function reports() {
  if (!reportsCache) reportsCache = api('/v1/reports').then(j => j.reports || []);
  return reportsCache;
}

/* ---- posters: deterministic SVG from the title and its genres ---- */
function hash32(str) {           /* FNV-1a: the same title always gets the same poster */
  let x = 0x811c9dc5;
  for (let i = 0; i < str.length; i++) { x ^= str.charCodeAt(i); x = Math.imul(x, 0x01000193) >>> 0; }
  return x >>> 0;
}
const GENRE_HUE = { Action: 0, Adventure: 30, Animation: 280, Children: 50, Comedy: 45, Crime: 220,
  Documentary: 160, Drama: 260, Fantasy: 300, 'Film-Noir': 230, Horror: 350, IMAX: 190, Musical: 320,
  Mystery: 240, Romance: 335, 'Sci-Fi': 185, Thriller: 10, War: 90, Western: 25 };
function wrap(text, width) {
  const words = text.split(/\s+/), lines = [];
  let cur = '';
  for (const w of words) {
    if ((cur + ' ' + w).trim().length > width && cur) { lines.push(cur); cur = w; }
    else cur = (cur + ' ' + w).trim();
  }
  if (cur) lines.push(cur);
  if (lines.length > 4) { lines.length = 4; lines[3] = lines[3].slice(0, width - 1) + '…'; }
  return lines;
}
function poster(t) {
  const x = hash32(String(t.id) + '|' + t.name);
  const g = (t.genres && t.genres[0]) || '';
  const hue = ((GENRE_HUE[g] !== undefined ? GENRE_HUE[g] : x % 360) + (x >>> 9) % 40 - 20 + 360) % 360;
  const id = 'p' + x.toString(36);
  const svg = s('svg', { viewBox: '0 0 120 170', role: 'img', 'aria-label': 'Poster: ' + t.name });
  svg.append(s('defs', {}, s('linearGradient', { id, x1: 0, y1: 0, x2: (x & 1), y2: 1 },
    s('stop', { offset: 0, 'stop-color': `hsl(${hue},60%,42%)` }),
    s('stop', { offset: 1, 'stop-color': `hsl(${(hue + 40) % 360},55%,14%)` }))));
  svg.append(s('rect', { width: 120, height: 170, fill: `url(#${id})` }));
  const shape = (x >>> 3) % 3, cx = 20 + (x >>> 5) % 80, cy = 30 + (x >>> 12) % 60, r = 18 + (x >>> 18) % 30;
  const deco = { fill: `hsl(${(hue + 180) % 360},70%,70%)`, opacity: 0.25 };
  if (shape === 0) svg.append(s('circle', Object.assign({ cx, cy, r }, deco)));
  else if (shape === 1) svg.append(s('rect', Object.assign({ x: cx - r / 2, y: cy - r / 2, width: r, height: r,
    transform: `rotate(${x % 90} ${cx} ${cy})` }, deco)));
  else svg.append(s('polygon', Object.assign({ points: `${cx},${cy - r} ${cx + r},${cy + r} ${cx - r},${cy + r}` }, deco)));
  const lines = wrap(t.name, 14);
  lines.forEach((ln, i) => svg.append(s('text', { x: 8, y: 96 + i * 14, fill: '#fff', 'font-size': 12,
    'font-weight': 700, 'font-family': 'system-ui, sans-serif' }, ln)));
  const gl = (t.genres || []).slice(0, 3).join(' · ');
  svg.append(s('text', { x: 8, y: 160, fill: '#fffc', 'font-size': 8, 'font-family': 'system-ui, sans-serif' },
    gl.length > 30 ? gl.slice(0, 29) + '…' : gl));
  if (t.year) svg.append(s('text', { x: 112, y: 14, fill: '#fffa', 'font-size': 9, 'text-anchor': 'end',
    'font-family': 'system-ui, sans-serif' }, t.year));
  return svg;
}

/* ---- member view ---- */
async function viewMember(main, id, q) {
  const device = q.get('device') || 'web', hour = q.get('hour') || '';
  const form = h('form', { class: 'controls', id: 'memberform' },
    h('label', {}, 'Member id', h('input', { id: 'member', name: 'member', value: id, required: true, size: 10 })),
    h('label', {}, 'Device', h('select', { id: 'device', name: 'device' },
      ['web', 'tv', 'mobile'].map(d => h('option', { value: d, selected: d === device }, d)))),
    h('label', {}, 'Local hour', h('select', { id: 'hour', name: 'hour' }, h('option', { value: '' }, 'any'),
      Array.from({ length: 24 }, (_, i) => h('option', { value: i, selected: String(i) === hour }, String(i))))),
    h('button', { type: 'submit' }, 'Show homepage'));
  form.addEventListener('submit', ev => {
    ev.preventDefault();
    const p = new URLSearchParams();
    if ($('#device').value !== 'web') p.set('device', $('#device').value);
    if ($('#hour').value !== '') p.set('hour', $('#hour').value);
    go('/ui/members/' + encodeURIComponent($('#member').value.trim()) + (p.toString() ? '?' + p : ''));
  });
  const page = h('div', { id: 'page' });
  main.replaceChildren(h('h1', {}, 'Member ', id), form, page);
  await drawPage(page, id, device, hour);
}

async function drawPage(page, id, device, hour) {
  const p = new URLSearchParams({ device });
  if (hour !== '') p.set('hour', hour);
  const mid = encodeURIComponent(id);
  const hp = await api(`/v1/members/${mid}/homepage?${p}`);
  /* The explanations are fetched on the first "why this" of the page, not on load: the page
   * shows sooner and the first load stays small. */
  let whyP = null;
  const why = () => whyP || (whyP = api(`/v1/members/${mid}/recommendations?explain=1&n=200`)
    .then(r => new Map((r.titles || []).map(t => [String(t.id), t]))));
  const kids = [h('p', { class: 'muted' }, `model ${hp.model_version} · ${hp.rows.length} rows`)];
  if (hp.cold_start) kids.push(h('div', { class: 'banner', id: 'coldstart' },
    'Cold-start page: this member has no history yet, so the rows are the catalog\'s trending, popular and new titles.'));
  if (hp.experiments && hp.experiments.length) kids.push(h('p', { class: 'muted' }, 'Experiments: ',
    hp.experiments.map(e => `${e.name}=${e.variant}${e.served ? ' (served ' + e.served + ')' : ''}`).join(', ')));
  for (const row of hp.rows) {
    const cards = h('div', { class: 'cards' });
    for (const t of row.titles) {
      const card = h('article', { class: 'card', tabindex: 0, 'data-title-id': t.id,
        'aria-label': `${t.name}: ${t.evidence || ''}` },
        poster(t), h('p', { class: 't', title: t.name }, t.name),
        h('p', { class: 'ev' }, t.evidence || ''),
        t.artwork ? h('p', { class: 'art', 'data-artwork': t.artwork, title: 'Artwork variant served' },
          h('span', { class: 'art-id' }, '🖼 ' + t.artwork), h('span', { class: 'art-tags' })) : null,
        h('button', { type: 'button', class: 'play', 'aria-label': 'Play ' + t.name }, '▶ Play'));
      const open = () => why().then(m => showWhy(t, row, m.get(String(t.id))),
        e => { whyP = null; setStatus('Why this failed: ' + e.message); });
      card.addEventListener('click', ev => { if (!ev.target.closest('button')) open(); });
      card.addEventListener('keydown', ev => { if (ev.key === 'Enter' && ev.target === card) { ev.preventDefault(); open(); } });
      $('button', card).addEventListener('click', () => play(id, t, device, hour, page));
      cards.append(card);
    }
    kids.push(h('section', { class: 'row', 'data-row-id': row.id, 'aria-label': row.name },
      h('h2', {}, row.name), h('p', { class: 'reason muted' }, row.reason || ''), cards));
  }
  page.replaceChildren(...kids);
  await artworkTags(page, hp).catch(e => setStatus('Artwork tags failed: ' + e.message));
}

/* Each card's artwork variant (the page's "artwork") with its tags from the catalog's artwork
 * table: one GET /v1/titles?ids=... for the page's titles, after the cards are drawn. */
async function artworkTags(page, hp) {
  const ids = [...new Set(hp.rows.flatMap(r => r.titles.filter(t => t.artwork).map(t => String(t.id))))];
  if (!ids.length) return;
  const tags = new Map();
  for (let i = 0; i < ids.length; i += 200) {
    const r = await api('/v1/titles?fields=artwork&ids=' + ids.slice(i, i + 200).map(encodeURIComponent).join(','));
    for (const t of r.titles || []) for (const a of t.artwork || []) tags.set(String(t.id) + '\n' + a.id, a.features || []);
  }
  for (const card of page.querySelectorAll('.card')) {
    const art = card.querySelector('.art');
    if (!art) continue;
    const f = tags.get(card.dataset.titleId + '\n' + art.dataset.artwork);
    if (f) { art.querySelector('.art-tags').textContent = f.join(' · '); art.dataset.tags = f.join(';'); }
  }
}

function showWhy(t, row, rec) {
  const body = $('#why-body');
  const kids = [h('p', {}, h('strong', {}, t.name), t.year ? ` (${t.year})` : '', ' — ', (t.genres || []).join(', ')),
    h('p', { class: 'muted' }, `Row “${row.name}”: ${t.evidence || row.reason || ''}`)];
  if (rec && rec.because && rec.because.length) {
    const max = Math.max(...rec.because.map(b => Math.abs(b.weight))) || 1;
    kids.push(h('p', {}, 'Recommended because of these titles in the history (weight):'));
    const ul = h('ul', { id: 'because' });
    for (const b of rec.because) {
      const bar = s('svg', { width: 80, height: 10, 'aria-hidden': 'true' },
        s('rect', { width: Math.max(1, 80 * Math.abs(b.weight) / max), height: 10, fill: '#e5a00d' }));
      ul.append(h('li', {}, bar, ' ', b.name, ` (${fmt(b.weight)})`));
    }
    kids.push(ul);
  } else {
    kids.push(h('p', { class: 'muted' }, rec ? 'The model gives no history titles for this one.'
      : 'Not among this member\'s top 200 model recommendations: it is on the page for the row\'s reason above.'));
  }
  body.replaceChildren(...kids);
  $('#why').hidden = false;
  $('#why-close').focus();
}

async function play(member, t, device, hour, page) {
  if (!apiKey()) {
    setStatus('Set the API key (top right) to post events.');
    $('#apikey').focus();
    return;
  }
  try {
    const r = await api('/v1/events', { method: 'POST',
      body: JSON.stringify({ member, title: String(t.id), event: 'play', value: 600 }) });
    setStatus(`Played ${t.name} for 10 min (event ${r.first_seq}); homepage refreshed.`);
    await drawPage(page, member, device, hour);
  } catch (e) { setStatus('Play failed: ' + e.message); }
}

/* ---- charts ---- */
/* Horizontal bars with optional CI whiskers: items [{label, value, lo, hi}]. */
function barChart(items, opts = {}) {
  const W = 640, lh = 22, left = 170, right = 70, top = 8, H = top + items.length * lh + 24;
  items = items.filter(i => Number.isFinite(i.value));
  const fin = v => v !== undefined && v !== null && Number.isFinite(v);
  items.forEach(i => { if (!fin(i.lo) || !fin(i.hi)) i.lo = i.hi = null; });
  const lo = Math.min(0, ...items.map(i => i.lo !== null ? i.lo : i.value));
  const hi = Math.max(0, ...items.map(i => i.hi !== null ? i.hi : i.value), 1e-12);
  const X = v => left + (W - left - right) * (v - lo) / (hi - lo || 1);
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, width: W, role: 'img',
    'aria-label': opts.label || 'bar chart' });
  items.forEach((it, i) => {
    const y = top + i * lh;
    svg.append(s('text', { x: left - 6, y: y + 14, 'text-anchor': 'end' }, it.label));
    svg.append(s('rect', { class: 'bar', x: Math.min(X(0), X(it.value)), y: y + 3, height: lh - 8,
      width: Math.max(1, Math.abs(X(it.value) - X(0))), fill: opts.color || '#e5a00d' }));
    if (it.lo !== null)
      svg.append(s('line', { x1: X(it.lo), x2: X(it.hi), y1: y + lh / 2 - 1, y2: y + lh / 2 - 1,
        stroke: '#fff', 'stroke-width': 1.5 }));
    svg.append(s('text', { x: W - right + 6, y: y + 14 }, fmt(it.value)));
  });
  svg.append(s('line', { class: 'axis', x1: X(0), x2: X(0), y1: top, y2: H - 20 }));
  if (opts.axis) svg.append(s('text', { x: left, y: H - 4 }, opts.axis));
  return svg;
}

function table(cols, rows, attrs = {}) {
  return h('div', { class: 'scroll' }, h('table', attrs,
    h('thead', {}, h('tr', {}, cols.map(c => h('th', { class: c.num ? 'num' : null, scope: 'col' }, c.label)))),
    h('tbody', {}, rows.map(r => h('tr', {}, cols.map(c => h('td', { class: c.num ? 'num' : null },
      c.num ? fmt(r[c.key]) : (r[c.key] === null || r[c.key] === undefined ? '–' : String(r[c.key])))))))));
}

/* ---- experiments ---- */
async function liveExperiments() {
  try { return (await api('/v1/experiments')).experiments || []; }
  catch (e) { if (e.status === 404) return null; throw e; }
}

async function viewExperiments(main) {
  main.replaceChildren(h('h1', {}, 'Experiments'));
  const live = await liveExperiments();
  if (live) {
    main.append(h('h2', {}, 'Online experiments in this server'));
    if (!live.length) main.append(h('p', { class: 'muted' }, 'None: start the server with --experiments FILE.'));
    else main.append(table([{ key: 'link', label: 'name' }, { key: 'state', label: 'state' },
      { key: 'units', label: 'units', num: true }, { key: 'variants', label: 'variants (share, served %)' },
      { key: 'reason', label: 'reason' }], live.map(x => ({ ...x,
      variants: (x.variants || []).map(v => `${v.name} ${fmt(v.share)} ${v.served_percent}%${v.stopped ? ' stopped' : ''}`).join(', ') }))));
    const links = main.querySelectorAll('tbody tr');
    live.forEach((x, i) => links[i].cells[0].replaceChildren(h('a', { href: '/ui/experiments/' + encodeURIComponent(x.name), 'data-nav': true }, x.name)));
  }
  const rs = (await reports()).filter(r => r.kind === 'xp');
  main.append(h('h2', {}, 'Analyses in the models directory (xp analyze --json)'));
  if (!rs.length) main.append(h('p', { class: 'muted' }, 'No xp analyze --json files in the models directory.'));
  else main.append(h('ul', {}, rs.map(r => h('li', {}, h('a', { href: '/ui/experiments/' + encodeURIComponent(r.file), 'data-nav': true }, r.file),
    ' — ', r.report.decision ? r.report.decision.action : ''))));
}

async function viewExperiment(main, name) {
  main.replaceChildren(h('h1', {}, 'Experiment ', name));
  let rep = null, state = null;
  const file = (await reports()).find(r => r.kind === 'xp' && r.file === name);
  if (file) rep = file.report;
  else {
    const q = new URLSearchParams(location.search);
    rep = await api(`/v1/experiments/${encodeURIComponent(name)}/report` + (q.get('metric') ? '?metric=' + encodeURIComponent(q.get('metric')) : ''));
    state = rep.status;
  }
  if (state) main.append(h('p', {}, 'State: ', h('strong', {}, state.state), state.reason ? ' — ' + state.reason : ''));
  const srm = rep.srm || {};
  main.append(h('div', { class: 'banner ' + (srm.passed === false ? 'bad' : 'good'), id: 'srm' },
    srm.passed === false ? `Sample ratio mismatch: p = ${fmt(srm.p_value)} < ${srm.threshold}. The results below are not trustworthy.`
      : `Sample ratio OK (p = ${fmt(srm.p_value)}; counts ${Object.entries(srm.counts || {}).map(([k, v]) => k + ' ' + v).join(', ')})`));
  const primary = (rep.results || []).filter(r => !['poststrat', 'mann_whitney', 'bootstrap', 'quantile'].includes(r.method));
  main.append(h('h2', {}, 'Metrics'));
  main.append(table([{ key: 'metric', label: 'metric' }, { key: 'variant', label: 'variant' },
    { key: 'control', label: 'vs' }, { key: 'effect', label: 'effect', num: true },
    { key: 'ci_low', label: 'CI low', num: true }, { key: 'ci_high', label: 'CI high', num: true },
    { key: 'rel', label: 'relative', num: false }, { key: 'p_value', label: 'p', num: true },
    { key: 'p_value_holm', label: 'p (Holm)', num: true }, { key: 'avp', label: 'always-valid p', num: true },
    { key: 'method', label: 'method' }],
  primary.map(r => ({ ...r, avp: r.sequential ? r.sequential.always_valid_p_value : null, rel: r.relative_effect === null || r.relative_effect === undefined ? '–'
    : (100 * r.relative_effect).toFixed(2) + '%' })), { id: 'metrics' }));
  main.append(forest(primary));
  const d = rep.decision;
  if (d) main.append(h('h2', {}, 'Decision'), h('div', { class: 'banner', id: 'decision' },
    h('strong', {}, d.action), d.variant ? ` (${d.variant})` : '', d.reason ? ' — ' + d.reason : ''));
  if (d && d.guardrails && d.guardrails.length) {
    const keys = [...new Set(d.guardrails.flatMap(g => Object.keys(g)))];
    main.append(h('h2', {}, 'Guardrails'), table(keys.map(k => ({ key: k, label: k.replace(/_/g, ' '),
      num: d.guardrails.some(g => typeof g[k] === 'number') })), d.guardrails.map(g => Object.fromEntries(
      Object.entries(g).map(([k, v]) => [k, v !== null && typeof v === 'object' ? JSON.stringify(v) : v]))), { id: 'guardrails' }));
  }
  if (state) await experimentOverTime(main, name, new URLSearchParams(location.search).get('metric'));
}

/* A live experiment over time (GET /v1/experiments/{name}/timeline): units per day, the
 * cumulative effect with its CI and confidence sequence, the always-valid p-value, the ramp and
 * rollback history, and the operator's buttons (stop a variant, advance its ramp; need the key). */
async function experimentOverTime(main, name, metric) {
  const tl = await api(`/v1/experiments/${encodeURIComponent(name)}/timeline` + (metric ? '?metric=' + encodeURIComponent(metric) : ''));
  const colors = ['#9aa0b0', '#e5a00d', '#5b8def', '#3fb27f', '#c77dff', '#e0565b'];
  main.append(h('h2', {}, 'Exposed units per day'),
    unitsChart(tl.days, tl.units_per_day, colors, tl.bucket_days));
  for (const c of tl.cumulative) {
    main.append(h('h2', {}, `Cumulative effect: ${c.variant} − ${tl.control} on ${tl.metric}`),
      h('p', { class: 'muted' }, 'At the end of each day, over the units exposed by then (their metric as of now): ' +
        'the difference in means with its 95% CI (dark band) and the always-valid confidence sequence (light band).'),
      bandChart(tl.days, c.effect, [[c.cs_low, c.cs_high, '#e5a00d22'], [c.ci_low, c.ci_high, '#e5a00d55']],
        { cls: 'cumulative', label: `cumulative effect of ${c.variant}`, axis: 'effect', zero: true }),
      h('h3', {}, `Always-valid p-value (mSPRT): ${c.variant}`),
      bandChart(tl.days, c.always_valid_p, [], { cls: 'avp', label: `always-valid p-value of ${c.variant}`, axis: 'p',
        lo: 0, hi: 1, rule: 0.05, color: '#5b8def' }));
  }
  main.append(h('h2', {}, 'Variants, ramps and actions'));
  const reason = h('input', { id: 'reason', name: 'reason', size: 30, maxlength: 200, placeholder: 'optional' });
  main.append(h('div', { class: 'controls' }, h('label', {}, 'Reason for an action', reason)));
  const act = async (v, what) => {
    if (!apiKey()) { setStatus('Set the API key (top right) to stop a variant or advance a ramp.'); $('#apikey').focus(); return; }
    const q = reason.value.trim() ? '?reason=' + encodeURIComponent(reason.value.trim()) : '';
    try {
      await api(`/v1/experiments/${encodeURIComponent(name)}/variants/${encodeURIComponent(v)}/${what}${q}`, { method: 'POST' });
      await route();
      setStatus(`${what === 'stop' ? 'Stopped' : 'Advanced the ramp of'} ${v}.`);
    } catch (e) { setStatus(`${what} ${v} failed: ${e.message}`); }
  };
  const vt = h('tbody');
  tl.variants.forEach((v, i) => {
    const canAdvance = !v.stopped && v.ramp.length && v.step < v.ramp.length - 1;
    vt.append(h('tr', { 'data-variant': v.name }, h('td', {}, v.name + (i === 0 ? ' (control)' : '')),
      h('td', {}, v.ramp.length ? v.ramp.map((p, k) => k === v.step ? `[${p}%]` : `${p}%`).join(' → ') : '–'),
      h('td', { class: 'num' }, fmt(v.served_percent) + '%'),
      h('td', { class: 'state' }, v.stopped ? 'stopped' : 'serving'),
      h('td', {}, i > 0 && !v.stopped ? h('button', { type: 'button', class: 'stop', 'data-variant': v.name,
        onclick: () => act(v.name, 'stop') }, 'Stop ' + v.name) : '',
      canAdvance ? h('button', { type: 'button', class: 'advance', 'data-variant': v.name,
        onclick: () => act(v.name, 'advance') }, `Advance to ${v.ramp[v.step + 1]}%`) : '')));
  });
  main.append(h('div', { class: 'scroll' }, h('table', { id: 'variants' }, h('thead', {}, h('tr', {},
    ['variant', 'ramp (current step)', 'served', 'state', 'actions'].map(c => h('th', { scope: 'col' }, c)))), vt)));
  main.append(h('h2', {}, 'Ramp and rollback timeline'));
  const when = t => new Date(t * 1000).toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
  const events = [];
  if (tl.start) events.push({ time: tl.start, variant: '–', event: 'start', by: 'config', percent: null, reason: 'the experiment\'s start' });
  events.push(...tl.history);
  if (tl.end) events.push({ time: tl.end, variant: '–', event: 'end', by: 'config', percent: null, reason: 'the experiment\'s end' });
  const ol = h('ol', { id: 'timeline', class: 'timeline' });
  if (!events.length) ol.append(h('li', { class: 'muted' }, 'No ramp step or stop yet.'));
  for (const e of events) ol.append(h('li', { class: 'ev-' + e.event }, h('time', {}, when(e.time)), ' ',
    h('strong', {}, `${e.event} ${e.variant}`), e.percent !== null && e.percent !== undefined ? ` → ${fmt(e.percent)}% served` : '',
    ` (by ${e.by}): `, e.reason));
  main.append(ol);
}

/* Grouped bars of units per day and variant. */
function unitsChart(days, series, colors, bucket) {
  const W = 640, H = 200, L = 50, R = 10, T = 10, B = 44;
  const max = Math.max(1, ...series.flatMap(s => s.units));
  const n = Math.max(1, days.length), gw = (W - L - R) / n, bw = Math.max(1, (gw - 4) / series.length);
  const Y = v => T + (H - T - B) * (1 - v / max);
  const svg = s('svg', { class: 'chart units-per-day', viewBox: `0 0 ${W} ${H}`, width: W, role: 'img',
    'aria-label': 'exposed units per day by variant' });
  svg.append(s('line', { class: 'axis', x1: L, x2: W - R, y1: Y(0), y2: Y(0) }),
    s('text', { x: L - 4, y: T + 8, 'text-anchor': 'end' }, fmt(max)), s('text', { x: L - 4, y: Y(0), 'text-anchor': 'end' }, '0'));
  days.forEach((d, j) => {
    series.forEach((se, k) => {
      const v = se.units[j];
      svg.append(s('rect', { class: 'bar', 'data-variant': se.variant, x: L + j * gw + 2 + k * bw, y: Y(v), width: bw,
        height: Math.max(0, Y(0) - Y(v)), fill: colors[k % colors.length] }, s('title', {}, `${d} ${se.variant}: ${v}`)));
    });
    if (n <= 14 || j % Math.ceil(n / 7) === 0)
      svg.append(s('text', { x: L + j * gw + gw / 2, y: H - 28, 'text-anchor': 'middle' }, d.slice(5)));
  });
  series.forEach((se, k) => svg.append(s('text', { x: L + 90 * k, y: H - 6, style: 'fill:' + colors[k % colors.length] },
    '■ ' + se.variant)));
  svg.append(s('text', { x: W - R, y: H - 6, 'text-anchor': 'end' }, bucket > 1 ? `units per ${bucket} days` : 'new units per day'));
  return svg;
}

/* A line over days (null = no point) with optional bands [[lo[], hi[], fill]], a zero line or a
 * rule (a horizontal threshold). */
function bandChart(days, y, bands, o) {
  const W = 640, H = 190, L = 56, R = 10, T = 10, B = 30;
  const vals = [...y, ...bands.flatMap(b => [...b[0], ...b[1]])].filter(Number.isFinite);
  let lo = o.lo !== undefined ? o.lo : Math.min(0, ...vals), hi = o.hi !== undefined ? o.hi : Math.max(0, ...vals);
  if (!(hi > lo)) { lo -= 1; hi += 1; }
  const n = days.length, X = j => L + (W - L - R) * (n > 1 ? j / (n - 1) : 0.5), Y = v => T + (H - T - B) * (1 - (v - lo) / (hi - lo));
  const svg = s('svg', { class: 'chart ' + o.cls, viewBox: `0 0 ${W} ${H}`, width: W, role: 'img', 'aria-label': o.label });
  svg.append(s('line', { class: 'axis', x1: L, x2: L, y1: T, y2: H - B }),
    s('text', { x: L - 4, y: T + 8, 'text-anchor': 'end' }, fmt(hi)), s('text', { x: L - 4, y: H - B, 'text-anchor': 'end' }, fmt(lo)));
  for (const [blo, bhi, fill] of bands) {
    const idx = days.map((_, j) => j).filter(j => Number.isFinite(blo[j]) && Number.isFinite(bhi[j]));
    if (!idx.length) continue;
    const pts = idx.map(j => `${X(j).toFixed(1)},${Y(bhi[j]).toFixed(1)}`).concat(idx.slice().reverse().map(j => `${X(j).toFixed(1)},${Y(blo[j]).toFixed(1)}`));
    if (idx.length === 1) svg.append(s('line', { class: 'band', x1: X(idx[0]), x2: X(idx[0]), y1: Y(bhi[idx[0]]), y2: Y(blo[idx[0]]), stroke: fill.slice(0, 7), 'stroke-width': 8, 'stroke-opacity': 0.4 }));
    else svg.append(s('polygon', { class: 'band', points: pts.join(' '), fill }));
  }
  if (o.zero && lo < 0 && hi > 0) svg.append(s('line', { class: 'axis', x1: L, x2: W - R, y1: Y(0), y2: Y(0), 'stroke-dasharray': '3 3' }));
  if (o.rule !== undefined) svg.append(s('line', { x1: L, x2: W - R, y1: Y(o.rule), y2: Y(o.rule), stroke: '#e0565b', 'stroke-dasharray': '4 3' }),
    s('text', { x: W - R, y: Y(o.rule) - 3, 'text-anchor': 'end' }, String(o.rule)));
  const idx = days.map((_, j) => j).filter(j => Number.isFinite(y[j]));
  if (idx.length) svg.append(s('path', { class: 'series', d: 'M' + idx.map(j => `${X(j).toFixed(1)},${Y(y[j]).toFixed(1)}`).join('L'),
    fill: 'none', stroke: o.color || '#e5a00d', 'stroke-width': 2 }));
  for (const j of idx) svg.append(s('circle', { class: 'pt', cx: X(j), cy: Y(y[j]), r: 3, fill: o.color || '#e5a00d' },
    s('title', {}, `${days[j]}: ${fmt(y[j])}`)));
  if (n) {
    svg.append(s('text', { x: L, y: H - 8 }, days[0]));
    if (n > 1) svg.append(s('text', { x: W - R, y: H - 8, 'text-anchor': 'end' }, days[n - 1]));
  }
  svg.append(s('text', { x: (L + W) / 2, y: H - 8, 'text-anchor': 'middle' }, o.axis));
  return svg;
}

/* Forest plot: one mark (square + CI line) per metric row, relative effect when the report has
 * it (so metrics of different units share an axis), else the absolute effect. */
function forest(rows) {
  const rel = rows.every(r => r.relative_effect !== null && r.relative_effect !== undefined);
  const pts = rows.map(r => rel ? { v: 100 * r.relative_effect, lo: 100 * r.relative_ci_low, hi: 100 * r.relative_ci_high }
    : { v: r.effect, lo: r.ci_low, hi: r.ci_high });
  const W = 640, lh = 26, left = 170, right = 20, top = 10, H = top + rows.length * lh + 30;
  const fin = pts.flatMap(p => [p.lo, p.hi, p.v]).filter(Number.isFinite);
  const span = Math.max(1e-9, ...fin.map(Math.abs));
  const X = v => left + (W - left - right) * (v + span * 1.1) / (2.2 * span);
  const svg = s('svg', { class: 'chart forest', viewBox: `0 0 ${W} ${H}`, width: W, role: 'img',
    'aria-label': 'Forest plot of effects with confidence intervals' });
  svg.append(s('line', { class: 'axis', x1: X(0), x2: X(0), y1: top, y2: H - 24, 'stroke-dasharray': '3 3' }));
  rows.forEach((r, i) => {
    const p = pts[i], y = top + i * lh + lh / 2;
    svg.append(s('text', { x: left - 8, y: y + 4, 'text-anchor': 'end' }, `${r.metric} ${r.variant}`));
    if (r.estimable === false || !Number.isFinite(p.v)) {
      svg.append(s('text', { x: X(0) + 4, y: y + 4 }, 'not estimable' + (r.reason ? ': ' + r.reason : '')));
      return;
    }
    const sig = Number.isFinite(p.lo) && (p.lo > 0 || p.hi < 0);
    const g = s('g', { class: 'mark', 'data-metric': r.metric });
    if (Number.isFinite(p.lo)) g.append(s('line', { x1: X(p.lo), x2: X(p.hi), y1: y, y2: y, stroke: '#e8e9ee', 'stroke-width': 2 }));
    g.append(s('rect', { x: X(p.v) - 5, y: y - 5, width: 10, height: 10, fill: sig ? (p.v > 0 ? '#3fb27f' : '#e0565b') : '#e5a00d' }));
    svg.append(g);
  });
  svg.append(s('text', { x: left, y: H - 6 }, rel ? 'relative effect (%), 95% CI' : 'effect, 95% CI'));
  svg.append(s('text', { x: X(0), y: H - 6, 'text-anchor': 'middle' }, '0'));
  return svg;
}

/* ---- models ---- */
function parseProm(text) {
  const out = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || line.startsWith('#')) continue;
    const labels = {};
    if (m[2]) for (const l of m[2].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

async function viewModels(main) {
  main.replaceChildren(h('h1', {}, 'Models'));
  const [ms, promText] = await Promise.all([api('/v1/models'), api('/metrics')]);
  const prom = parseProm(promText);
  const when = t => new Date(t * 1000).toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
  const unk = 'unknown';
  main.append(h('h2', {}, 'Loaded'), table([{ key: 'role', label: 'model' }, { key: 'version', label: 'version' },
    { key: 'kind', label: 'kind' }, { key: 'params', label: 'parameters' }, { key: 'members', label: 'members', num: true },
    { key: 'titles', label: 'titles', num: true }, { key: 'interactions', label: 'interactions', num: true },
    { key: 'trained', label: 'trained' }, { key: 'seconds', label: 'training s', num: true }, { key: 'psi', label: 'score drift (PSI)', num: true }],
  ms.models.map(m => { const t = typeof m.train === 'object' ? m.train : null;
    return { role: m.role, version: m.version, kind: m.kind, params: m.params || '–', titles: m.titles,
      members: t ? t.members : unk, interactions: t ? t.interactions : unk, trained: t ? when(t.trained_at) : unk,
      seconds: t ? t.seconds : unk, psi: m.psi }; }), { id: 'loaded' }));
  main.append(h('p', { class: 'muted' }, 'Training size and time come from the artifact ("unknown": written before they were recorded). ' +
    'PSI compares the best-100 scores of the pages served since the load with the model\'s training deciles ' +
    '(< 0.1 stable, 0.1–0.25 a shift, > 0.25 a large one; "unknown" before any page or for an old artifact).'));
  const b = prom.filter(m => m.name === 'marquee_page_build_seconds_bucket');
  if (b.length) {
    let prev = 0;
    const items = b.map(m => { const c = m.value - prev; prev = m.value; return { label: 'le ' + (m.labels.le === '+Inf' ? '+Inf' : (1000 * Number(m.labels.le)).toPrecision(3) + ' ms'), value: c }; });
    main.append(h('h3', {}, 'Page-build latency (homepage builds per bucket)'), barChart(items, { label: 'page build latency histogram', axis: 'pages' }));
  }
  const all = await reports();
  const rs = all.filter(r => r.kind === 'eval');
  main.append(h('h2', {}, 'Offline evaluation (marquee eval --json in the models directory)'));
  if (!rs.length) main.append(h('p', { class: 'muted' }, 'No eval --json files in the models directory.'));
  for (const r of rs) {
    const models = r.report.models || [];
    const keys = [...new Set(models.flatMap(m => Object.keys(m.test || {})))].filter(k => !k.endsWith('_se') && k !== 'members');
    main.append(h('h3', {}, r.file), table([{ key: 'model', label: 'model' }, { key: 'params', label: 'params' },
      ...keys.map(k => ({ key: k, label: k, num: true })), { key: 'fit_seconds', label: 'fit s', num: true }],
    models.map(m => ({ model: m.model, params: JSON.stringify(m.params || {}), fit_seconds: m.fit_seconds, ...(m.test || {}) })), { class: 'eval' }));
    const key = keys.find(k => k.startsWith('ndcg')) || keys[0];
    if (key) main.append(barChart(models.map(m => ({ label: m.model, value: m.test[key],
      lo: m.test[key + '_se'] !== undefined ? m.test[key] - 1.96 * m.test[key + '_se'] : null,
      hi: m.test[key + '_se'] !== undefined ? m.test[key] + 1.96 * m.test[key + '_se'] : null })),
    { label: key + ' by model', axis: key + ' (test), ±1.96 SE' }));
    const cal = models.filter(m => m.calibration);
    if (cal.length) main.append(h('h4', {}, 'Ranker calibration (test window)'), table([{ key: 'model', label: 'model' },
      ...['ece_raw', 'ece_platt', 'ece_isotonic', 'brier_raw', 'brier_platt', 'brier_isotonic', 'base_rate', 'samples'].map(k => ({ key: k, label: k, num: true }))],
    cal.map(m => ({ model: m.model, ...m.calibration })), { class: 'calibration' }));
  }
  const rel = all.filter(r => r.kind === 'reliability');
  if (rel.length) main.append(h('h2', {}, 'Ranker reliability (marquee eval --reliability CSV)'));
  for (const r of rel) {
    const text = String(await api('/v1/reports/' + encodeURIComponent(r.file)));
    const lines = text.trim().split('\n'), head = lines[0].split(',');
    const rows = lines.slice(1).map(l => { const v = l.split(','), o = {}; head.forEach((k, i) => { o[k] = k === 'method' ? v[i] : Number(v[i]); }); return o; });
    main.append(h('h3', {}, r.file), reliabilityChart(rows));
  }
}

/* Reliability diagram: observed play rate against mean predicted probability per bin, one
 * line per calibration method, the diagonal = perfect calibration. Bins without samples are left out. */
function reliabilityChart(rows) {
  const W = 420, H = 420, L = 46, R = 10, T = 10, B = 40;
  const methods = [...new Set(rows.map(r => r.method))], colors = ['#e0565b', '#5b8def', '#3fb27f', '#e5a00d'];
  const pts = rows.filter(r => r.count > 0 && Number.isFinite(r.mean_predicted) && Number.isFinite(r.observed_rate));
  const max = Math.min(1, Math.max(0.05, ...pts.flatMap(r => [r.mean_predicted, r.observed_rate])) * 1.05);
  const X = v => L + (W - L - R) * v / max, Y = v => T + (H - T - B) * (1 - v / max);
  const svg = s('svg', { class: 'chart reliability', viewBox: `0 0 ${W} ${H}`, width: W, role: 'img',
    'aria-label': 'reliability diagram: observed rate against predicted probability' });
  svg.append(s('line', { class: 'axis', x1: L, x2: W - R, y1: Y(0), y2: Y(0) }), s('line', { class: 'axis', x1: L, x2: L, y1: T, y2: Y(0) }),
    s('line', { x1: X(0), y1: Y(0), x2: X(max), y2: Y(max), stroke: '#9aa0b0', 'stroke-dasharray': '4 3' }),
    s('text', { x: L - 4, y: T + 8, 'text-anchor': 'end' }, fmt(max)), s('text', { x: L - 4, y: Y(0), 'text-anchor': 'end' }, '0'),
    s('text', { x: W - R, y: H - 8, 'text-anchor': 'end' }, 'mean predicted probability'),
    s('text', { x: L + 4, y: T + 12 }, 'observed rate'));
  methods.forEach((m, k) => {
    const p = pts.filter(r => r.method === m).sort((a, b) => a.mean_predicted - b.mean_predicted), c = colors[k % colors.length];
    if (p.length) svg.append(s('path', { class: 'series', d: 'M' + p.map(r => `${X(r.mean_predicted).toFixed(1)},${Y(r.observed_rate).toFixed(1)}`).join('L'),
      fill: 'none', stroke: c, 'stroke-width': 1.5 }));
    for (const r of p) svg.append(s('circle', { class: 'pt', 'data-method': m, cx: X(r.mean_predicted), cy: Y(r.observed_rate), r: 3, fill: c },
      s('title', {}, `${m} bin ${r.bin}: predicted ${fmt(r.mean_predicted)}, observed ${fmt(r.observed_rate)} (${r.count})`)));
    svg.append(s('text', { x: L + 8 + 90 * k, y: H - 22, style: 'fill:' + c }, m));
  });
  return svg;
}

/* ---- ABR ---- */
async function viewAbr(main) {
  main.replaceChildren(h('h1', {}, 'Adaptive bitrate'));
  const all = await reports();
  const rs = all.filter(r => r.kind === 'abr'), chunks = all.filter(r => r.kind === 'abr_chunks');
  if (!rs.length) main.append(h('p', { class: 'muted' }, 'No marquee abr --json files in the models directory.'));
  if (chunks.length) await chunkView(main, chunks);
  for (const r of rs) {
    const a = r.report.algorithms || [];
    main.append(h('h2', {}, `${r.file}: QoE ${r.report.qoe}, ${r.report.n_traces} traces`));
    const ci = v => (Array.isArray(v) ? `${fmt(v[0])} … ${fmt(v[1])}` : '–');
    main.append(table([{ key: 'algo', label: 'algorithm' }, { key: 'mean_qoe', label: 'QoE', num: true },
      { key: 'qoe_ci', label: 'QoE 95% CI' }, { key: 'mean_bitrate_kbps', label: 'kbps', num: true },
      { key: 'mean_rebuffer_s', label: 'rebuffer s', num: true }, { key: 'rebuffer_ratio', label: 'rebuffer ratio', num: true },
      { key: 'mean_startup_s', label: 'startup s', num: true }, { key: 'mean_switches', label: 'switches', num: true }],
    a.map(x => ({ ...x, qoe_ci: ci(x.qoe_ci95) })), { class: 'abr' }));
    main.append(barChart(a.map(x => ({ label: x.algo, value: x.mean_qoe,
      lo: Array.isArray(x.qoe_ci95) ? x.qoe_ci95[0] : null, hi: Array.isArray(x.qoe_ci95) ? x.qoe_ci95[1] : null })),
      { label: 'mean QoE by algorithm', axis: 'mean QoE per session, 95% CI', color: '#5b8def' }));
  }
}

/* One session over time from a `marquee abr --per-chunk` CSV: throughput (chunk bytes over its
 * download time), the chosen bitrate and the buffer, per chunk, for a chosen trace and algorithm. */
async function chunkView(main, files) {
  const box = h('div', { id: 'chunks' });
  const fileSel = h('select', { id: 'chunkfile' }, files.map(f => h('option', { value: f.file }, f.file)));
  const traceSel = h('select', { id: 'chunktrace' }), algoSel = h('select', { id: 'chunkalgo' });
  main.append(h('h2', {}, 'One session over time (marquee abr --per-chunk)'),
    h('div', { class: 'controls' }, h('label', {}, 'File', fileSel), h('label', {}, 'Trace', traceSel),
      h('label', {}, 'Algorithm', algoSel)), box);
  let rows = [];
  const draw = () => {
    const sel = rows.filter(r => r.trace === traceSel.value && r.algo === algoSel.value);
    box.replaceChildren(lineChart(sel.map(r => r.chunk), [
      { name: 'throughput kbit/s', color: '#5b8def', y: sel.map(r => r.delay_ms > 0 ? 8 * r.bytes / r.delay_ms : NaN) },
      { name: 'bitrate kbit/s', color: '#e5a00d', y: sel.map(r => r.bitrate_kbps) }], 'kbit/s'),
    lineChart(sel.map(r => r.chunk), [{ name: 'buffer s', color: '#3fb27f', y: sel.map(r => r.buffer_s) }], 'buffer (s)'));
  };
  const load = async () => {
    const text = await api('/v1/reports/' + encodeURIComponent(fileSel.value));
    const lines = String(text).trim().split('\n'), head = lines[0].split(',');
    rows = lines.slice(1).map(l => { const v = l.split(','), o = {};
      head.forEach((k, i) => { o[k] = k === 'trace' || k === 'algo' ? v[i] : Number(v[i]); }); return o; });
    const opts = (sel, vals) => sel.replaceChildren(...[...new Set(vals)].map(v => h('option', { value: v }, v)));
    opts(traceSel, rows.map(r => r.trace));
    opts(algoSel, rows.map(r => r.algo));
    draw();
  };
  fileSel.addEventListener('change', load);
  traceSel.addEventListener('change', draw);
  algoSel.addEventListener('change', draw);
  await load();
}

/* Lines over a shared x: series [{name, color, y[]}]; one path.series per series. */
function lineChart(x, series, axis) {
  const W = 640, H = 180, L = 50, R = 10, T = 10, B = 34;
  const ys = series.flatMap(s => s.y).filter(Number.isFinite);
  const ymax = Math.max(1e-9, ...ys), xmin = Math.min(...x), xmax = Math.max(...x);
  const X = v => L + (W - L - R) * (v - xmin) / (xmax - xmin || 1), Y = v => T + (H - T - B) * (1 - v / ymax);
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, width: W, role: 'img', 'aria-label': axis + ' by chunk' });
  svg.append(s('line', { class: 'axis', x1: L, x2: W - R, y1: Y(0), y2: Y(0) }),
    s('line', { class: 'axis', x1: L, x2: L, y1: T, y2: Y(0) }),
    s('text', { x: L - 4, y: T + 8, 'text-anchor': 'end' }, fmt(ymax)), s('text', { x: L - 4, y: Y(0), 'text-anchor': 'end' }, '0'),
    s('text', { x: L, y: H - 4 }, 'chunk'), s('text', { x: W - R, y: H - 4, 'text-anchor': 'end' }, axis));
  series.forEach((se, k) => {
    const d = x.map((xv, i) => Number.isFinite(se.y[i]) ? `${X(xv).toFixed(1)},${Y(se.y[i]).toFixed(1)}` : null).filter(Boolean);
    if (d.length) svg.append(s('path', { class: 'series', d: 'M' + d.join('L'), fill: 'none', stroke: se.color, 'stroke-width': 1.5 }));
    svg.append(s('text', { x: L + 8 + 160 * k, y: H - 18, style: 'fill:' + se.color }, se.name));
  });
  return svg;
}

/* ---- router ---- */
function go(path) { history.pushState(null, '', path); route(); }
async function route() {
  const main = $('#main'), path = location.pathname, q = new URLSearchParams(location.search);
  $('#why').hidden = true;
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const view = parts[0] === 'ui' ? (parts[1] || 'members') : 'members';
  for (const a of document.querySelectorAll('nav a')) {
    if (a.dataset.view === view) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  setStatus('');
  try {
    if (view === 'members') await viewMember(main, parts[2] || '1', q);
    else if (view === 'experiments' && parts[2]) await viewExperiment(main, parts[2]);
    else if (view === 'experiments') await viewExperiments(main);
    else if (view === 'models') await viewModels(main);
    else if (view === 'abr') await viewAbr(main);
    else main.replaceChildren(h('h1', {}, 'Not found'), h('p', {}, 'No console view at ', path));
    document.title = 'Marquee · ' + view;
  } catch (e) {
    main.replaceChildren(h('h1', {}, 'Error'), h('p', { class: 'banner bad' }, e.message));
  }
  main.dataset.ready = '1';
}

document.addEventListener('click', ev => {
  const a = ev.target.closest('a[data-nav]');
  if (!a || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
  ev.preventDefault();
  go(a.getAttribute('href'));
});
document.addEventListener('keydown', ev => { if (ev.key === 'Escape') $('#why').hidden = true; });
window.addEventListener('popstate', route);
$('#why-close').addEventListener('click', () => { $('#why').hidden = true; });
$('#keyform').addEventListener('submit', ev => {
  ev.preventDefault();
  sessionStorage.setItem('mq_key', $('#apikey').value);
  $('#apikey').value = '';
  $('#keystate').textContent = apiKey() ? 'key set' : 'no key';
});
$('#keystate').textContent = apiKey() ? 'key set' : '';
route();
