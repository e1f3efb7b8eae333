// console.test.mjs PORT KEY OUTDIR: drives the web console of a running `marquee serve` in
// Debian's chromium (playwright-core, no browser download) and checks what a person would see.
// Started by tests/console/test_console.c, which starts the server on the demo catalog with
// reports in its models directory. Exit status 0 when every check passes; each failure prints
// a line "FAIL: ...". Screenshots of each view at 1280x800 and 390x844 go to OUTDIR.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const [port, key, outDir] = process.argv.slice(2);
if (!port || !key || !outDir) { console.error('usage: console.test.mjs PORT KEY OUTDIR'); process.exit(2); }
const base = `http://127.0.0.1:${port}`;
fs.mkdirSync(outDir, { recursive: true });
let failures = 0;
const fail = msg => { failures++; console.log('FAIL: ' + msg); };
const check = (ok, msg) => { if (!ok) fail(msg); else console.log('ok: ' + msg); };
const getJson = async p => (await fetch(base + p, { headers: { Authorization: 'Bearer ' + key } })).json();

const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'mq-chromium-'));
// A fresh profile directory (playwright passes it as --user-data-dir).
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.MQ_CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});

// A page whose console errors and uncaught exceptions are collected per view.
async function newPage(width, height) {
  const page = await browser.newPage();
  await page.setViewportSize({ width, height });
  page.errors = [];
  page.on('console', m => { if (m.type() === 'error') page.errors.push(m.text()); });
  page.on('pageerror', e => page.errors.push(String(e)));
  return page;
}
async function load(page, url) {
  page.errors.length = 0;
  await page.goto(base + url);
  await page.waitForSelector('main[data-ready="1"]', { timeout: 20000 });
}
// Non-blank: the screenshot decoded in the page has many distinct colours, not one flat fill.
async function screenshot(page, name, fullPage = false) {
  const file = path.join(outDir, name + '.png');
  const png = await page.screenshot({ path: file, fullPage });
  const colours = await page.evaluate(async b64 => {
    const img = new Image();
    img.src = 'data:image/png;base64,' + b64;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.width; c.height = img.height;
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data, seen = new Set();
    for (let i = 0; i < d.length; i += 4 * 7) seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
    return seen.size;
  }, png.toString('base64'));
  check(colours >= 16, `${name}.png is not blank (${colours} distinct colours sampled)`);
}

// Traffic for the live experiment: 200 members' homepages (exposures) and a play for every
// other one, so that its report and timeline have units in both arms.
for (let m = 2; m <= 201; m++) {
  const hp = await getJson(`/v1/members/${m}/homepage`);
  if (m % 2) continue;
  const t = hp.rows[0].titles[0];
  await fetch(base + '/v1/events', { method: 'POST', headers: { Authorization: 'Bearer ' + key, 'Content-Type': 'application/json' },
    body: JSON.stringify({ member: String(m), title: String(t.id), event: 'play', value: 60 + (m * 37) % 1200, page_id: hp.page_id }) });
}
const xpFile = (await getJson('/v1/reports')).reports.find(r => r.kind === 'xp');
const live = (await getJson('/v1/experiments')).experiments || [];
const views = [['members', '/ui/members/1'], ['coldstart', '/ui/members/console-nobody'],
  ['experiments', '/ui/experiments'], ['models', '/ui/models'], ['abr', '/ui/abr']];
if (xpFile) views.push(['experiment', '/ui/experiments/' + encodeURIComponent(xpFile.file)]);
if (live.length) views.push(['experiment-live', '/ui/experiments/' + encodeURIComponent(live[0].name)]);
check(!!xpFile, 'the models directory has an xp analyze --json report');

for (const [w, hgt] of [[1280, 800], [390, 844]]) {
  const page = await newPage(w, hgt);
  for (const [name, url] of views) {
    await load(page, url);
    check(page.errors.length === 0, `${name} at ${w}x${hgt}: no console error ${page.errors.join(' | ')}`);
    const err = await page.$('main h1');
    check(err && (await err.textContent()) !== 'Error', `${name} at ${w}x${hgt}: no error view`);
    await screenshot(page, `${name}-${w}x${hgt}`);
  }
  await page.close();
}

const page = await newPage(1280, 800);

// First load of /ui/members/1: bytes transferred (document, assets, JSON) from Resource Timing.
// The homepage the page itself received is kept: its artwork is drawn per request (seeded by
// the page's number), so another request may serve other variants.
const seenHp = page.waitForResponse(r => new URL(r.url()).pathname === '/v1/members/1/homepage');
await load(page, '/ui/members/1');
const pageHp = await (await seenHp).json();
const perf = await page.evaluate(() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const res = performance.getEntriesByType('resource');
  const json = res.filter(r => r.name.includes('/v1/')).map(r => ({ url: r.name, ms: r.responseEnd - r.requestStart }));
  return { bytes: nav.transferSize + res.reduce((a, r) => a + r.transferSize, 0), json };
});
console.log(`first load of /ui/members/1: ${perf.bytes} bytes transferred; JSON calls: ` +
  perf.json.map(j => `${new URL(j.url).pathname} ${j.ms.toFixed(1)} ms`).join(', '));
check(perf.bytes > 0 && perf.bytes <= 300 * 1024, `first load ${perf.bytes} bytes <= 300 KB`);

// The member view shows the JSON API's rows, in order, with the same first titles.
const api = await getJson('/v1/members/1/homepage');
const shown = await page.$$eval('section.row', rows => rows.map(r => ({ id: r.dataset.rowId,
  first: r.querySelector('.card') && r.querySelector('.card').dataset.titleId,
  n: r.querySelectorAll('.card').length })));
check(shown.length === api.rows.length && shown.length > 0, `member 1: ${shown.length} rows shown, API has ${api.rows.length}`);
const same = api.rows.every((r, i) => shown[i] && shown[i].id === r.id && shown[i].first === String(r.titles[0].id) && shown[i].n === r.titles.length);
check(same, 'member 1: each row has the API\'s id, first title and title count');

// Artwork: every card shows the artwork variant its homepage response served ("artwork") and
// that variant's tags as the catalog's artwork table has them (GET /v1/titles/{id}).
const apiArt = pageHp.rows.flatMap(r => r.titles.filter(t => t.artwork).map(t => [String(t.id), t.artwork]));
const cardArt = await page.$$eval('.card', cs => cs.map(c => {
  const a = c.querySelector('.art');
  return [c.dataset.titleId, a ? a.dataset.artwork : null, a ? a.textContent : '', a ? a.dataset.tags || '' : ''];
}));
check(apiArt.length > 0 && cardArt.length === pageHp.rows.reduce((n, r) => n + r.titles.length, 0) &&
  apiArt.every(([id, art], i) => cardArt[i][0] === id && cardArt[i][1] === art && cardArt[i][2].includes(art)),
  `member 1: ${apiArt.length} cards show the artwork variant the API served`);
const sample = apiArt.filter((_, i) => i % Math.max(1, Math.floor(apiArt.length / 5)) === 0).slice(0, 5);
let tagsOk = sample.length > 0;
for (const [id, art] of sample) {
  const cat = await getJson('/v1/titles/' + encodeURIComponent(id));
  const want = ((cat.artwork || []).find(a => a.id === art) || {}).features || [];
  const got = cardArt.find(c => c[0] === id && c[1] === art);
  if (!(want.length > 0 && got && got[3] === want.join(';') && want.every(f => got[2].includes(f)))) {
    tagsOk = false;
    fail(`artwork ${art} of title ${id}: card shows tags '${got && got[3]}', catalog has '${want.join(';')}'`);
  }
}
check(tagsOk, `artwork tags of ${sample.length} titles equal the catalog's artwork table`);
const batch = await getJson('/v1/titles?ids=' + encodeURIComponent(sample[0] ? sample[0][0] : '1') + ',no-such-title');
check(batch.titles.length === 1 && batch.missing.length === 1 && batch.missing[0] === 'no-such-title',
  'GET /v1/titles?ids= answers the known title and lists the unknown one');

// "Why this": clicking a Top Picks card opens the explanation with the API's because titles.
const recs = await getJson('/v1/members/1/recommendations?explain=1&n=200');
const top = api.rows.find(r => r.id === 'top_picks');
if (top) {
  const t = top.titles[0];
  const rec = recs.titles.find(x => String(x.id) === String(t.id));
  await page.click(`section[data-row-id="top_picks"] .card[data-title-id="${t.id}"] .t`);
  await page.waitForSelector('#why:not([hidden])');
  const items = await page.$$eval('#because li', lis => lis.length);
  check(rec && items === rec.because.length, `why this for ${t.name}: ${items} history titles, API gives ${rec ? rec.because.length : 'none'}`);
  await page.keyboard.press('Escape');
}

// Play through the UI (key typed once into the console) puts the title in Continue Watching.
const target = api.rows.find(r => r.id !== 'continue_watching').titles[0];
await page.fill('#apikey', key);
await page.click('#keyform button');
await page.click(`.card[data-title-id="${target.id}"] button.play`);
await page.waitForSelector(`section[data-row-id="continue_watching"] .card[data-title-id="${target.id}"]`, { timeout: 10000 })
  .then(() => check(true, `Play ${target.name}: Continue Watching shows it`),
    () => fail(`Play ${target.name}: Continue Watching does not show it`));
const after = await getJson('/v1/members/1/homepage');
const cw = after.rows.find(r => r.id === 'continue_watching');
check(cw && cw.titles.some(t => String(t.id) === String(target.id)), 'the API agrees: the title is in Continue Watching');
check(page.errors.length === 0, `member view after Play: no console error ${page.errors.join(' | ')}`);
await page.screenshot({ path: path.join(outDir, 'members-after-play-1280x800.png') });

// Experiments: one forest-plot mark per metric row of the report.
if (xpFile) {
  await load(page, '/ui/experiments/' + encodeURIComponent(xpFile.file));
  const primary = xpFile.report.results.filter(r => !['poststrat', 'mann_whitney', 'bootstrap', 'quantile'].includes(r.method));
  const marks = await page.$$eval('svg.forest g.mark', g => g.length);
  const trs = await page.$$eval('#metrics tbody tr', t => t.length);
  check(marks === primary.length && trs === primary.length && marks > 0, `forest plot: ${marks} marks, ${trs} table rows, ${primary.length} metric rows in the report`);
  const srm = await page.textContent('#srm');
  check(/Sample ratio/.test(srm), 'SRM banner shown');
  check(!!(await page.$('#decision')), 'decision shown');
}
// Models: each loaded model's kind, parameters and training size as /v1/models says; the
// reliability diagram with one point per non-empty bin and method of the CSV.
await load(page, '/ui/models');
const ms = (await getJson('/v1/models')).models;
const cells = await page.$$eval('#loaded tbody tr', trs => trs.map(tr => [...tr.cells].map(td => td.textContent)));
check(cells.length === ms.length && ms.every((m, i) => cells[i][0] === m.role && cells[i][2] === m.kind && cells[i][3] === (m.params || '–') &&
  cells[i][4] === (typeof m.train === 'object' ? String(m.train.members) : 'unknown')),
  `models view: ${cells.length} models with kind, parameters and training members as /v1/models (${ms.map(m => m.kind + ' ' + m.params).join('; ')})`);
const relFile = (await getJson('/v1/reports')).reports.find(r => r.kind === 'reliability');
if (relFile) {
  const csv = (await (await fetch(base + '/v1/reports/' + relFile.file)).text()).trim().split('\n').slice(1);
  const want = csv.filter(l => { const v = l.split(','); return Number(v[2]) > 0 && Number.isFinite(Number(v[3])); }).length;
  const got = await page.$$eval('svg.reliability circle.pt', c => c.length);
  check(got === want && want > 0, `reliability diagram: ${got} points, the CSV has ${want} non-empty bins`);
}
check(page.errors.length === 0, `models view: no console error ${page.errors.join(' | ')}`);
// ABR: the per-chunk chart draws throughput, bitrate and buffer with one point per chunk of
// the chosen (trace, algorithm) in the CSV.
await load(page, '/ui/abr');
const chunksFile = (await getJson('/v1/reports')).reports.find(r => r.kind === 'abr_chunks');
check(!!chunksFile, 'the models directory has a per-chunk CSV');
if (chunksFile) {
  const csv = (await (await fetch(base + '/v1/reports/' + chunksFile.file)).text()).trim().split('\n').slice(1);
  const trace = await page.inputValue('#chunktrace'), algo = await page.inputValue('#chunkalgo');
  const n = csv.filter(l => { const v = l.split(','); return v[0] === trace && v[1] === algo; }).length;
  const pts = await page.$$eval('#chunks path.series', ps => ps.map(p => p.getAttribute('d').split('L').length));
  check(pts.length === 3 && pts.every(k => k === n) && n > 0, `ABR chunk chart: ${pts.length} series of ${pts.join('/')} points, CSV has ${n} chunks for ${trace} ${algo}`);
  await page.selectOption('#chunkalgo', { index: 1 });
  const algo2 = await page.inputValue('#chunkalgo');
  check(algo2 !== algo && (await page.$$eval('#chunks path.series', ps => ps.length)) === 3, `ABR chunk chart redrawn for ${algo2}`);
  check(page.errors.length === 0, `ABR view: no console error ${page.errors.join(' | ')}`);
}
// A live experiment's report (the member views above were exposures): SRM banner, one mark
// per estimable metric row, and the decision.
if (live.length) {
  await load(page, '/ui/experiments/' + encodeURIComponent(live[0].name));
  const rep = await getJson(`/v1/experiments/${encodeURIComponent(live[0].name)}/report`);
  const est = rep.results.filter(r => r.estimable !== false && !['poststrat', 'mann_whitney', 'bootstrap', 'quantile'].includes(r.method)).length;
  const marks = await page.$$eval('svg.forest g.mark', g => g.length);
  check(marks === est && est > 0 && !!(await page.$('#srm')) && !!(await page.$('#decision')),
    `live experiment ${live[0].name}: ${marks} forest marks for ${est} estimable metric rows, SRM banner and decision shown`);
  check(page.errors.length === 0, `live experiment view: no console error ${page.errors.join(' | ')}`);
  // Over time: one bar per (day, variant), the units summing to the timeline's; a cumulative
  // effect and an always-valid p chart per treatment with one point per estimable day.
  const tl = await getJson(`/v1/experiments/${encodeURIComponent(live[0].name)}/timeline`);
  const bars = await page.$$eval('svg.units-per-day rect.bar', r => r.length);
  check(bars === tl.days.length * tl.units_per_day.length && bars > 0, `units per day: ${bars} bars for ${tl.days.length} days x ${tl.units_per_day.length} variants`);
  const effPts = await page.$$eval('svg.cumulative circle.pt', c => c.length);
  const wantPts = tl.cumulative.reduce((a, c) => a + c.effect.filter(v => v !== null).length, 0);
  check(effPts === wantPts && wantPts > 0 && tl.cumulative.length === (await page.$$eval('svg.avp', x => x.length)),
    `cumulative effect: ${effPts} points, timeline has ${wantPts}; one always-valid p chart per treatment`);
  check(!!(await page.$('#timeline')) && !!(await page.$('#variants')), 'ramp and rollback timeline and variants table shown');
  // The buttons (the key was typed into the console above): advance B's ramp, then stop B.
  const v = tl.variants[1].name;
  await page.fill('#reason', 'console test');
  await page.click(`button.advance[data-variant="${v}"]`);
  await page.waitForSelector('#timeline li.ev-ramp', { timeout: 10000 })
    .then(() => check(true, `advance ${v}: the timeline shows the ramp step`), () => fail(`advance ${v}: no ramp step in the timeline`));
  const tl2 = await getJson(`/v1/experiments/${encodeURIComponent(live[0].name)}/timeline`);
  check(tl2.variants[1].step === tl.variants[1].step + 1 && tl2.history.some(e => e.event === 'ramp' && e.by === 'operator' && /console test/.test(e.reason)),
    `advance ${v}: the server moved the ramp to step ${tl2.variants[1].step} with the reason`);
  await page.click(`button.stop[data-variant="${v}"]`);
  await page.waitForSelector(`#variants tr[data-variant="${v}"] td.state:text("stopped")`, { timeout: 10000 })
    .then(() => check(true, `stop ${v}: the variants table says stopped`), () => fail(`stop ${v}: the variants table does not say stopped`));
  const rep2 = await getJson(`/v1/experiments/${encodeURIComponent(live[0].name)}/report`);
  check(rep2.status.state === 'stopped' && /operator/.test(rep2.status.reason), `stop ${v}: the report's status is ${rep2.status.state} (${rep2.status.reason})`);
  check(!!(await page.$('#timeline li.ev-stop')), `stop ${v}: the timeline shows the stop`);
  check(page.errors.length === 0, `live experiment actions: no console error ${page.errors.join(' | ')}`);
  await screenshot(page, 'experiment-live-stopped-full-1280', true);
}
// The live experiments list shows the server's experiments.
await load(page, '/ui/experiments');
const listed = await page.$$eval('main table tbody tr', t => t.length);
check(listed === live.length, `experiments list: ${listed} rows, server has ${live.length}`);
// Keyboard: Tab reaches a card and Enter opens "why this".
await load(page, '/ui/members/1');
await page.focus('.card');
await page.keyboard.press('Enter');
await page.waitForSelector('#why:not([hidden])', { timeout: 10000 })
  .then(() => check(true, 'keyboard: Enter on a focused card opens why this'),
    () => fail('keyboard: Enter on a focused card does not open why this'));

await browser.close();
fs.rmSync(profile, { recursive: true, force: true });
console.log(failures ? `${failures} check(s) failed` : 'all console checks passed');
process.exit(failures ? 1 : 0);
