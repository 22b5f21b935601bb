// test_dashboard.mjs: the dashboard in a real browser (Debian's chromium,
// headless, through playwright-core) against a real erwatchd.
//
// tests/integration/test_browser.py starts the daemon on ephemeral loopback
// ports, pushes a healthy and a collapsing run through the C client library,
// and runs this file with:
//   EW_URL    the daemon's HTTP base URL
//   EW_ZMQ    its ZeroMQ endpoint (for the live-update test)
//   EW_SHOTS  where screenshots go (git-ignored tests/screenshots/)
//   EW_STEPS  steps pushed per run (0 .. EW_STEPS-1)
//   EW_ERWATCH the erwatch CLI (for rm and mv)
// Output: TAP-like lines, one per test.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { launch } from './browser.mjs';
import { test, assert, assertClose, run } from './tap.mjs';

const URL0 = process.env.EW_URL;
const ZMQ = process.env.EW_ZMQ;
const SHOTS = process.env.EW_SHOTS || 'tests/screenshots';
const STEPS = Number(process.env.EW_STEPS || 60);
const PY = process.env.EW_PYTHON || '/usr/bin/python3';
const ERWATCH = process.env.EW_ERWATCH || 'build/erwatch';
const HERE = path.dirname(new URL(import.meta.url).pathname);
const HEALTHY = 'simclr-healthy';
const COLLAPSING = 'byol-collapsing';
const TAG = 'projector';

let browser;
let page;
const failures = []; // HTTP errors and page errors seen during the tests
const requests = [];

async function api(p, params) {
  const q = new URLSearchParams(params || {}).toString();
  const r = await fetch(`${URL0}${p}${q ? '?' + q : ''}`);
  assert(r.ok, `${p}: HTTP ${r.status}`);
  return r.json();
}

function shot(name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  return page.screenshot({ path: path.join(SHOTS, name + '.png') });
}

// Pixels of the panel's plot canvas near an RGB colour.
async function colorPixels(metric, hex) {
  return page.evaluate(([m, h]) => {
    const p = window.erwatch.panels.get(m);
    const c = p.u.ctx.canvas;
    const d = p.u.ctx.getImageData(0, 0, c.width, c.height).data;
    const n = parseInt(h.slice(1), 16);
    const r = (n >> 16) & 255;
    const g = (n >> 8) & 255;
    const b = n & 255;
    let k = 0;
    for (let i = 0; i < d.length; i += 4) {
      if (Math.abs(d[i] - r) + Math.abs(d[i + 1] - g) + Math.abs(d[i + 2] - b) < 60 && d[i + 3] > 200) k++;
    }
    return k;
  }, [metric, hex]);
}

async function canvasHash(metric) {
  return page.evaluate((m) => {
    const p = window.erwatch.panels.get(m);
    const c = p.u.ctx.canvas;
    const d = p.u.ctx.getImageData(0, 0, c.width, c.height).data;
    let h = 0;
    for (let i = 0; i < d.length; i++) h = (h * 31 + d[i]) | 0;
    return h;
  }, metric);
}

async function legendRow(metric, run) {
  return page.evaluate(([m, r]) => {
    const tr = [...document.querySelectorAll(`.panel[data-metric="${m}"] tr[data-run]`)].find((x) => x.dataset.run === r);
    if (!tr) return null;
    return { step: tr.dataset.step, value: tr.dataset.value, text: tr.querySelector('.val')?.textContent };
  }, [metric, run]);
}

async function waitPanelsDrawn() {
  await page.waitForFunction(
    ([a, b]) => {
      const app = window.erwatch;
      if (!app) return false;
      const p = app.panels.get('er_entropy');
      return p && p.runs.get(a)?.full && p.runs.get(b)?.full && document.querySelectorAll('.panel[data-metric="er_entropy"] tr[data-step]').length === 2;
    },
    [HEALTHY, COLLAPSING],
    { timeout: 15000 },
  );
}

// ---------------------------------------------------------------- tests

test('page_loads_and_first_panel_paints', async () => {
  const t0 = Date.now();
  await page.goto(URL0 + '/');
  await waitPanelsDrawn();
  const ms = Date.now() - t0;
  console.log(`# first paint of the er_entropy panel: ${ms} ms after navigation`);
  assert(ms < 10000, `first paint took ${ms} ms`);
  const title = await page.title();
  assert(title === 'erwatch', title);
  await shot('dashboard-initial');
});

test('panels_render_both_runs', async () => {
  for (const m of ['er_entropy', 'er_reconstruction', 'loss']) {
    const present = await page.locator(`.panel[data-metric="${m}"]`).count();
    assert(present === 1, `panel ${m} missing`);
    for (const run of [HEALTHY, COLLAPSING]) {
      const row = await legendRow(m, run);
      assert(row && row.step === String(STEPS - 1), `${m}/${run}: legend ${JSON.stringify(row)}`);
    }
    // both runs' colours are drawn on the canvas
    const colors = await page.evaluate((runs) => runs.map((r) => window.erwatch.colorOf(r)), [HEALTHY, COLLAPSING]);
    for (let i = 0; i < 2; i++) {
      const k = await colorPixels(m, colors[i]);
      assert(k > 50, `${m}: only ${k} pixels of ${colors[i]} drawn`);
    }
  }
});

test('reference_levels_drawn_and_collapse_visible', async () => {
  const js = await api('/api/series', { run: COLLAPSING, tag: TAG, metric: 'er_entropy' });
  assert(js.ref && Number.isFinite(js.ref.collapsed) && js.ref.ideal > js.ref.collapsed, JSON.stringify(js.ref));
  // the collapsing run ends near its collapsed level, the healthy one near the ideal
  const last = js.value[js.value.length - 1];
  const h = (last - js.ref.collapsed) / (js.ref.ideal - js.ref.collapsed);
  assert(h < 0.2, `collapsing run's entropy fraction ${h}`);
  const refs = await page.evaluate(() => window.erwatch.panels.get('er_entropy').refs().map((r) => [r.kind, r.v]));
  assert(refs.some(([k, v]) => k === 'collapsed' && Math.abs(v - js.ref.collapsed) < 1e-9), JSON.stringify(refs));
  assert(refs.some(([k, v]) => k === 'ideal' && Math.abs(v - js.ref.ideal) < 1e-9), JSON.stringify(refs));
  assert((await colorPixels('er_entropy', '#d92d20')) > 100, 'the red collapsed line is drawn');
  // the run list flags the collapsed run and not the healthy one
  const badges = await page.evaluate(() => Object.fromEntries([...document.querySelectorAll('#runs li[data-run]')].map((li) => [li.dataset.run, li.querySelector('.health')?.className || ''])));
  assert(/bad/.test(badges[COLLAPSING]) && /good/.test(badges[HEALTHY]), JSON.stringify(badges));
});

test('legend_value_equals_api_value_at_cursor', async () => {
  const step = Math.floor(STEPS / 2) + 3;
  for (const metric of ['er_entropy', 'loss']) {
    const over = page.locator(`.panel[data-metric="${metric}"] .u-over`);
    await over.scrollIntoViewIfNeeded();
    const box = await over.boundingBox();
    const px = await page.evaluate(([m, s]) => window.erwatch.panels.get(m).u.valToPos(s, 'x'), [metric, step]);
    // arrive from the side, as a hand does (a move to where the mouse
    // already is fires no event)
    await page.mouse.move(box.x + px - 20, box.y + box.height / 2);
    await page.mouse.move(box.x + px, box.y + box.height / 2, { steps: 4 });
    await page.waitForFunction(([m, s]) => [...document.querySelectorAll(`.panel[data-metric="${m}"] tr[data-run]`)].every((tr) => tr.dataset.step === String(s)), [metric, step], { timeout: 5000 })
      .catch(async (e) => {
        const rows = await page.evaluate((m) => [...document.querySelectorAll(`.panel[data-metric="${m}"] tr[data-run]`)].map((tr) => [tr.dataset.run, tr.dataset.step]), metric);
        throw new Error(`${metric}: legend at ${JSON.stringify(rows)}, cursor sent to step ${step} (x ${px} of ${box.width}): ${e.message}`);
      });
    for (const run of [HEALTHY, COLLAPSING]) {
      const js = await api('/api/series', { run, tag: TAG, metric, after: step - 1, before: step + 1 });
      assert(js.step.length === 1 && js.step[0] === step, JSON.stringify(js));
      const row = await legendRow(metric, run);
      assert(row.step === String(step), `${metric}/${run} legend at step ${row.step}, cursor at ${step}`);
      assert(Number(row.value) === js.value[0], `${metric}/${run}: legend ${row.value} != API ${js.value[0]}`);
      assertClose(Number(row.text.replace('−', '-')), js.value[0], 1e-5, `${metric}/${run} shown text "${row.text}"`);
    }
  }
  await shot('dashboard-hover');
  await page.mouse.move(0, 0);
});

test('smoothing_changes_the_drawn_series', async () => {
  const metric = 'er_reconstruction'; // noisy enough for the EMA to show
  const before = await canvasHash(metric);
  await page.locator('#smooth').fill('0.9');
  await page.waitForFunction(() => new URLSearchParams(location.search).get('smooth') === '0.90');
  await page.waitForTimeout(100);
  const after = await canvasHash(metric);
  assert(before !== after, 'the canvas did not change');
  // what is drawn is the bias-corrected EMA of the API's values
  const js = await api('/api/series', { run: HEALTHY, tag: TAG, metric });
  const drawn = await page.evaluate(([m, r]) => {
    const p = window.erwatch.panels.get(m);
    const e = p.runs.get(r);
    return Array.from(p.smoothed(e, p.view(e)));
  }, [metric, HEALTHY]);
  let last = 0;
  let maxDiff = 0;
  for (let i = 0; i < js.value.length; i++) {
    last = 0.9 * last + 0.1 * js.value[i];
    const want = last / (1 - Math.pow(0.9, i + 1));
    assertClose(drawn[i], want, 1e-12, `smoothed[${i}]`);
    maxDiff = Math.max(maxDiff, Math.abs(want - js.value[i]));
  }
  assert(maxDiff > 0, 'smoothing changed nothing');
  const head = await page.locator(`.panel[data-metric="${metric}"] .legend th`).allTextContents();
  assert(head.includes('smoothed') && head.includes('raw'), `legend header ${head}`);
  await shot('dashboard-smoothed');
  await page.locator('#smooth').fill('0');
});

test('new_point_appears_without_reload', async () => {
  await page.evaluate(() => (window.__noReload = 1));
  const newStep = STEPS + 10;
  const t0 = Date.now();
  execFileSync(PY, ['-c', `import sys; sys.path.insert(0, ${JSON.stringify(HERE)}); import seed; seed.push_point(${JSON.stringify(ZMQ)}, ${JSON.stringify(HEALTHY)}, ${JSON.stringify(TAG)}, ${newStep})`],
    { stdio: 'inherit', env: { ...process.env, LD_PRELOAD: process.env.EW_PY_PRELOAD || '' } });
  const t1 = Date.now();
  await page.waitForFunction(([r, s]) => {
    const tr = [...document.querySelectorAll('.panel[data-metric="er_entropy"] tr[data-run]')].find((x) => x.dataset.run === r);
    return tr && tr.dataset.step === String(s);
  }, [HEALTHY, newStep], { timeout: 10000 });
  console.log(`# new point drawn ${Date.now() - t1} ms after the push returned (push took ${t1 - t0} ms)`);
  assert(await page.evaluate(() => window.__noReload === 1), 'the page reloaded');
  const runMeta = await page.locator(`#runs li[data-run="${HEALTHY}"] .meta-step`).textContent();
  assert(runMeta.replace(/\s/g, '') === `step${newStep}`, runMeta);
});

test('zoom_requests_a_narrower_range_synced_across_panels', async () => {
  requests.length = 0;
  const over = page.locator('.panel[data-metric="er_entropy"] .u-over');
  await over.scrollIntoViewIfNeeded();
  const box = await over.boundingBox();
  await page.mouse.move(box.x + box.width * 0.3, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2, { steps: 6 });
  await page.mouse.up();
  await page.waitForFunction(() => new URLSearchParams(location.search).has('from'));
  const url = new URL(page.url());
  const lo = Number(url.searchParams.get('from'));
  const hi = Number(url.searchParams.get('to'));
  assert(hi > lo && hi - lo < STEPS, `range ${lo}..${hi}`);
  await page.waitForFunction(() => [...window.erwatch.panels.values()].every((p) => [...p.runs.values()].every((e) => !e.full || e.zoom)), null, { timeout: 10000 });
  const zoomReqs = requests.filter((u) => u.searchParams.has('after') && u.searchParams.has('before'));
  assert(zoomReqs.length >= 6, `only ${zoomReqs.length} windowed requests: ${requests.map(String).join(' ')}`);
  for (const u of zoomReqs) {
    const a = Number(u.searchParams.get('after'));
    const b = Number(u.searchParams.get('before'));
    assert(b - a < STEPS && a >= lo - STEPS * 0.1 - 2 && b <= hi + STEPS * 0.1 + 2, `window ${a}..${b} for ${lo}..${hi}`);
    assert(Number(u.searchParams.get('points')) > 100, 'points = panel width');
  }
  // every panel shows the same window
  const scales = await page.evaluate(() => [...window.erwatch.panels.values()].map((p) => [p.u.scales.x.min, p.u.scales.x.max]));
  for (const [a, b] of scales) assert(a === lo && b === hi, `panel x ${a}..${b} != ${lo}..${hi}`);
  await shot('dashboard-zoomed');
  // reset: the button, then the whole run again
  assert(!(await page.locator('#reset-zoom').isDisabled()), 'reset enabled');
  await page.locator('#reset-zoom').click();
  await page.waitForFunction(() => !new URLSearchParams(location.search).has('from'));
  const full = await page.evaluate(() => { const p = window.erwatch.panels.get('er_entropy'); return [p.u.scales.x.min, p.u.scales.x.max]; });
  assert(full[0] <= 0 && full[1] >= STEPS - 1, `after reset ${full}`);
});

test('url_reproduces_the_view', async () => {
  const q = `?run=${COLLAPSING}&tag=${TAG}&metric=er_entropy&metric=loss&smooth=0.50&x=step&y=lin&from=10&to=40`;
  const p2 = await browser.ctx.newPage();
  try {
    await p2.goto(URL0 + '/' + q);
    await p2.waitForFunction(() => {
      const a = window.erwatch;
      return a && a.panels.get('er_entropy')?.runs.size > 0 && [...a.panels.get('er_entropy').runs.values()].every((e) => e.zoom);
    }, null, { timeout: 15000 });
    const st = await p2.evaluate(() => {
      const a = window.erwatch;
      const p = a.panels.get('er_entropy');
      return { runs: a.selectedRuns(), panels: [...a.panels.keys()], smooth: a.state.smooth, x: [p.u.scales.x.min, p.u.scales.x.max], slider: document.getElementById('smooth').value };
    });
    assert(JSON.stringify(st.runs) === JSON.stringify([COLLAPSING]), JSON.stringify(st));
    assert(JSON.stringify(st.panels) === JSON.stringify(['er_entropy', 'loss']), JSON.stringify(st));
    assert(st.smooth === 0.5 && st.slider === '0.5' && st.x[0] === 10 && st.x[1] === 40, JSON.stringify(st));
  } finally {
    await p2.close();
  }
});

test('download_csv_and_json', async () => {
  const panel = page.locator('.panel[data-metric="loss"]');
  const [dl] = await Promise.all([page.waitForEvent('download'), panel.locator('button', { hasText: 'CSV' }).click()]);
  const csv = fs.readFileSync(await dl.path(), 'utf8').trim().split('\n');
  assert(csv[0] === 'run,tag,metric,step,time,value,min,max,smoothed', csv[0]);
  const js = await api('/api/series', { run: COLLAPSING, tag: TAG, metric: 'loss' });
  const rows = csv.slice(1).filter((l) => l.startsWith(COLLAPSING + ','));
  assert(rows.length === js.step.length, `${rows.length} CSV rows, API has ${js.step.length}`);
  const f = rows[5].split(',');
  assert(Number(f[3]) === js.step[5] && Number(f[5]) === js.value[5], rows[5]);
  const [dl2] = await Promise.all([page.waitForEvent('download'), panel.locator('button', { hasText: 'JSON' }).click()]);
  const data = JSON.parse(fs.readFileSync(await dl2.path(), 'utf8'));
  assert(data.metric === 'loss' && data.runs.length === 2, JSON.stringify(data).slice(0, 200));
  const r = data.runs.find((x) => x.run === COLLAPSING);
  assert(JSON.stringify(r.value) === JSON.stringify(js.value), 'JSON values = API values');
});

test('axes_wall_time_and_log', async () => {
  await page.locator('[data-x="time"]').click();
  await page.locator('[data-y="log"]').click();
  await page.waitForFunction(() => new URLSearchParams(location.search).get('x') === 'time' && new URLSearchParams(location.search).get('y') === 'log');
  const st = await page.evaluate(() => {
    const p = window.erwatch.panels.get('loss');
    return { time: p.u.scales.x.time, distr: p.u.scales.y.distr, entropyNote: window.erwatch.panels.get('er_entropy').note.textContent, x0: p.u.scales.x.min };
  });
  assert(st.time === true && st.distr === 3, JSON.stringify(st));
  assert(st.x0 > 1e9, 'x is Unix time');
  assert(/log scale n\/a/.test(st.entropyNote), 'negative entropy falls back to linear with a note');
  await shot('dashboard-time-log');
  await page.locator('[data-x="step"]').click();
  await page.locator('[data-y="lin"]').click();
});

function pyPush(code) {
  execFileSync(PY, ['-c', `import sys; sys.path.insert(0, ${JSON.stringify(HERE)}); import seed; ${code}`],
    { stdio: 'inherit', env: { ...process.env, LD_PRELOAD: process.env.EW_PY_PRELOAD || '' } });
}

const listed = () => page.locator('#runs li[data-run]').evaluateAll((lis) => lis.map((l) => l.dataset.run));

test('filter_runs_by_name', async () => {
  // the daemon filters (GET /api/runs?q=), once typing pauses
  await page.locator('#filter').fill('healthy');
  await page.waitForFunction((h) => {
    const l = [...document.querySelectorAll('#runs li[data-run]')].map((x) => x.dataset.run);
    return l.length === 1 && l[0] === h;
  }, HEALTHY, { timeout: 5000 }).catch(() => {});
  const shown = await listed();
  assert(JSON.stringify(shown) === JSON.stringify([HEALTHY]), JSON.stringify(shown));
  await page.locator('#filter').fill('');
  await page.waitForFunction(() => document.querySelectorAll('#runs li[data-run]').length >= 2);
});

test('spectrum_panel_shows_data_or_says_none', async () => {
  const r = await fetch(`${URL0}/api/spectrum?run=${COLLAPSING}&tag=${TAG}`);
  await page.waitForFunction(() => document.getElementById('spectrum').dataset.state, null, { timeout: 10000 });
  const state = await page.evaluate(() => [document.getElementById('spectrum').dataset.state, document.getElementById('spec-msg').textContent]);
  if (r.status === 404) assert(state[0] === 'empty' && /No spectrum stored yet/.test(state[1]), JSON.stringify(state));
  else {
    assert(r.ok, `/api/spectrum: HTTP ${r.status}`);
    assert(state[0] === 'drawn', JSON.stringify(state));
    // the heatmap has as many columns as stored spectra and colour in them
    const js = await r.json();
    assert(js.step.length > 0 && js.values.length === js.step.length, JSON.stringify(js).slice(0, 200));
    const lit = await page.evaluate(() => {
      const c = document.getElementById('spec-canvas');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let k = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i + 3] === 255 && d[i + 1] > 100) k++;
      return k;
    });
    assert(lit > 1000, `only ${lit} coloured pixels in the heatmap`);
  }
});

test('alert_markers_in_run_colour_with_run_name_no_overlap', async () => {
  // Three alerts fired at nearly the same step on one panel (two runs):
  // the labels must not overlap, each in its run's colour with its name.
  const marks = await page.evaluate(async ([a, b, tag]) => {
    const app = window.erwatch;
    const p = app.panels.get('er_entropy');
    const al = (id, run, rule, step) => ({ id, run, rule, tag, metric: 'er_entropy', state: 'firing', severity: 'critical', fired_step: step, fired_time: null, summary: '' });
    app.alertsSupported = false; // the live poll must not replace them meanwhile
    app.alerts = [al(901, a, 'EntropyCollapse', 30), al(902, b, 'EntropyCollapse', 31), al(903, a, 'RankCollapse', 32)];
    p.u.redraw(false, false);
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    return { marks: p.alertMarks, colors: { [a]: app.colorOf(a), [b]: app.colorOf(b) } };
  }, [COLLAPSING, HEALTHY, TAG]);
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.locator('.panel[data-metric="er_entropy"]').screenshot({ path: path.join(SHOTS, 'dashboard-alert-markers.png') });
  assert(marks.marks.length === 3, JSON.stringify(marks));
  for (const m of marks.marks) {
    assert(m.color === marks.colors[m.run], `marker of ${m.run} in ${m.color}, run colour ${marks.colors[m.run]}`);
    assert(m.text.includes(m.run) && m.text.includes(m.rule), m.text);
    assert(m.label, `label of ${m.run}/${m.rule} not drawn`);
  }
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < i; j++) {
      const p = marks.marks[i].label;
      const q = marks.marks[j].label;
      const overlap = p.x0 < q.x1 && q.x0 < p.x1 && p.y0 < q.y1 && q.y0 < p.y1;
      assert(!overlap, `labels overlap: ${JSON.stringify([p, q])}`);
    }
  }
  // the label text is drawn in the run's colour
  assert((await colorPixels('er_entropy', marks.colors[HEALTHY])) > 50, 'healthy colour drawn');
  await page.evaluate(() => { // back to the daemon's alerts
    window.erwatch.alertsSupported = true;
    return window.erwatch.refreshAlerts();
  });
});

test('legend_time_column_stays_in_its_card_and_one_time_format', async () => {
  await page.setViewportSize({ width: 860, height: 1000 }); // one narrow column of panels
  await page.locator('[data-x="time"]').click();
  await page.locator('#smooth').fill('0.5'); // the widest legend: smoothed and raw
  await page.waitForFunction(() => new URLSearchParams(location.search).get('x') === 'time');
  await page.waitForFunction(() => [...document.querySelectorAll('.legend td.time')].some((td) => td.textContent.length > 5));
  await page.waitForTimeout(200);
  const bad = await page.evaluate(() => {
    const out = [];
    for (const panel of document.querySelectorAll('.panel[data-metric]')) {
      const pr = panel.getBoundingClientRect();
      const lr = panel.querySelector('.legend').getBoundingClientRect();
      if (lr.right > pr.right - 1) out.push(`${panel.dataset.metric}: legend right ${lr.right} > card right ${pr.right}`);
      for (const td of panel.querySelectorAll('.legend td.time')) {
        if (td.scrollWidth > td.clientWidth + 1) out.push(`${panel.dataset.metric}: time "${td.textContent}" clipped (${td.scrollWidth} > ${td.clientWidth})`);
        if (td.getBoundingClientRect().right > pr.right - 1) out.push(`${panel.dataset.metric}: time cell outside the card`);
      }
    }
    return out;
  });
  await shot('dashboard-narrow-time');
  assert(bad.length === 0, bad.join('\n'));
  // one format: legend cells, axis ticks, the status line, run tooltips
  const texts = await page.evaluate(() => {
    const p = window.erwatch.panels.get('loss');
    const t0 = p.u.scales.x.min;
    return {
      cells: [...document.querySelectorAll('.legend td.time')].map((td) => td.textContent),
      ticks: p.u.axes[0].values(p.u, [t0, t0 + 30, t0 + 60]),
      status: document.querySelector('#status .txt').textContent,
      seen: [...document.querySelectorAll('#runs .meta-seen')].map((s) => s.title),
    };
  });
  for (const c of texts.cells) assert(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/.test(c), `legend time "${c}"`);
  for (const t of texts.ticks) assert(/^\d\d:\d\d:\d\d(\n\d{4}-\d\d-\d\d)?$/.test(t), `axis tick "${t}"`);
  assert(/updated \d\d:\d\d:\d\d$/.test(texts.status), texts.status);
  for (const s of texts.seen) assert(/^last batch \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/.test(s), `run tooltip "${s}"`);
  await page.locator('#smooth').fill('0');
  await page.locator('[data-x="step"]').click();
  await page.setViewportSize({ width: 1440, height: 1000 });
});

test('spectrum_shows_the_worst_run_by_entropy', async () => {
  // healthy listed first: the spectrum still shows the collapsing run
  const p2 = await browser.ctx.newPage();
  try {
    await p2.goto(`${URL0}/?run=${HEALTHY}&run=${COLLAPSING}&tag=${TAG}`);
    await p2.waitForFunction((c) => document.getElementById('spec-run').value === c && document.getElementById('spectrum').dataset.state, COLLAPSING, { timeout: 15000 })
      .catch(async (e) => {
        const v = await p2.evaluate(() => document.getElementById('spec-run').value);
        throw new Error(`spectrum shows ${v}: ${e.message}`);
      });
    const h = await p2.evaluate(([a, b]) => {
      const p = window.erwatch.panels.get('er_entropy');
      return [p.health(a), p.health(b), window.erwatch.spectrum.run()];
    }, [HEALTHY, COLLAPSING]);
    assert(h[1] < h[0] && h[2] === COLLAPSING, JSON.stringify(h));
    // a run the user picks wins
    await p2.selectOption('#spec-run', HEALTHY);
    await p2.waitForFunction((r) => window.erwatch.spectrum.run() === r, HEALTHY);
  } finally {
    await p2.close();
  }
});

test('default_selection_and_reference_levels_follow_visible_runs', async () => {
  // the newest run has another tag; a short narrow run has other levels
  const push = (run, tag, steps, d) => execFileSync(PY, ['-c', `import sys; sys.path.insert(0, ${JSON.stringify(HERE)}); import seed; seed.push_run(${JSON.stringify(ZMQ)}, ${JSON.stringify(run)}, ${JSON.stringify(tag)}, ${steps}, ${d})`],
    { stdio: 'inherit', env: { ...process.env, LD_PRELOAD: process.env.EW_PY_PRELOAD || '' } });
  push('narrow-d8', TAG, 5, 8);
  push('z-backbone-only', 'backbone', 3, 16);
  const p2 = await browser.ctx.newPage();
  try {
    await p2.goto(URL0 + '/');
    await p2.waitForFunction(() => window.erwatch && window.erwatch.panels.get('er_entropy')?.runs.size > 0, null, { timeout: 15000 });
    const st = await p2.evaluate(() => ({ runs: window.erwatch.selectedRuns(), tag: window.erwatch.state.tag,
      ticked: [...document.querySelectorAll('#runs li[data-run] input:checked')].map((i) => i.closest('li').dataset.run) }));
    assert(st.tag === TAG, JSON.stringify(st));
    assert(!st.runs.includes('z-backbone-only') && !st.ticked.includes('z-backbone-only'), `a run without the tag is ticked: ${JSON.stringify(st)}`);
    assert(st.runs.includes('narrow-d8') && st.runs.includes(COLLAPSING), JSON.stringify(st));

    // both shapes in view: levels of both, labelled with their shape
    await p2.goto(`${URL0}/?run=narrow-d8&run=${COLLAPSING}&tag=${TAG}&metric=er_entropy`);
    const refsOf = () => p2.evaluate(() => window.erwatch.panels.get('er_entropy').refs().map((r) => `${r.kind}:d=${r.ref.d}`).sort());
    // (right after goto the new page's app may not exist yet: a predicate
    // that throws fails the wait instead of polling again)
    await p2.waitForFunction(() => { const p = window.erwatch?.panels.get('er_entropy'); return p && [...p.runs.values()].filter((e) => e.full).length === 2; }, null, { timeout: 15000 });
    const both = await refsOf();
    assert(JSON.stringify(both) === '["collapsed:d=32","collapsed:d=8","ideal:d=32","ideal:d=8"]', JSON.stringify(both));
    // zoomed where only the d=32 run has points: no line of the d=8 shape
    await p2.goto(`${URL0}/?run=narrow-d8&run=${COLLAPSING}&tag=${TAG}&metric=er_entropy&from=20&to=50`);
    await p2.waitForFunction(() => { const p = window.erwatch?.panels.get('er_entropy'); return p && [...p.runs.values()].filter((e) => e.full).length === 2 && [...p.runs.values()].every((e) => e.zoom || !e.full); }, null, { timeout: 15000 });
    const zoomed = await refsOf();
    assert(JSON.stringify(zoomed) === '["collapsed:d=32","ideal:d=32"]', JSON.stringify(zoomed));
    await p2.screenshot({ path: path.join(SHOTS, 'dashboard-refs-zoomed.png') });
  } finally {
    await p2.close();
  }
});

test('run_details_show_config_and_notes', async () => {
  // seed.py stored a config and notes for both runs (C client, erwatch_set_meta)
  const api1 = await api('/api/run', { run: COLLAPSING });
  assert(api1.config && api1.config.lr === 0.3 && api1.notes === 'lr too high:\nwatch the entropy', JSON.stringify(api1));
  await page.waitForFunction(() => !document.getElementById('run-info').hidden, null, { timeout: 10000 });
  const t = await page.evaluate(() => {
    const tab = document.querySelector('#run-info table');
    const runs = [...tab.querySelectorAll('thead th[data-run]')].map((th) => th.dataset.run);
    const row = (k) => {
      const tr = tab.querySelector(`tbody tr[data-key="${k}"]`);
      return tr ? { cells: [...tr.querySelectorAll('td')].map((td) => td.textContent), diff: tr.classList.contains('diff') } : null;
    };
    return { runs, lr: row('lr'), bs: row('batch_size'), mom: row('optimizer.momentum'), notes: row('notes'),
             visible: document.getElementById('run-info').getBoundingClientRect().height > 0 };
  });
  assert(t.visible, 'the card is drawn');
  const iH = t.runs.indexOf(HEALTHY), iC = t.runs.indexOf(COLLAPSING);
  assert(iH >= 0 && iC >= 0, JSON.stringify(t.runs));
  assert(t.lr && t.lr.cells[iH] === '0.05' && t.lr.cells[iC] === '0.3' && t.lr.diff, JSON.stringify(t.lr));
  assert(t.bs && t.bs.cells[iH] === '128' && t.bs.cells[iC] === '128' && !t.bs.diff, JSON.stringify(t.bs));
  assert(t.mom && t.mom.cells[iC] === '0.99', JSON.stringify(t.mom));
  assert(t.notes && t.notes.cells[iH] === 'baseline run' && t.notes.cells[iC] === 'lr too high:\nwatch the entropy', JSON.stringify(t.notes));
  // unselecting a run drops its column
  await page.locator(`#runs li[data-run="${HEALTHY}"] input`).uncheck();
  await page.waitForFunction((r) => !document.querySelector(`#run-info thead th[data-run="${r}"]`), HEALTHY);
  await page.locator(`#runs li[data-run="${HEALTHY}"] input`).check();
  await page.waitForFunction((r) => !!document.querySelector(`#run-info thead th[data-run="${r}"]`), HEALTHY);
  await page.locator('#run-info').scrollIntoViewIfNeeded();
  await shot('dashboard-run-details');
});

// Last, because they add runs (the paging test 60 of them) and rename one:
// the tests above count on the seeded runs being the newest.
test('run_list_is_paged_and_asks_only_for_what_it_shows', async () => {
  const names = Array.from({ length: 60 }, (_, i) => `page-${String(i).padStart(3, '0')}`);
  pyPush(`seed.push_many(${JSON.stringify(ZMQ)}, ${JSON.stringify(names)}, ${JSON.stringify(TAG)})`);
  const runsAnswers = [];
  const onResp = async (r) => {
    if (!r.url().includes('/api/runs')) return;
    try {
      runsAnswers.push({ url: r.url(), n: (await r.json()).runs.length });
    } catch (e) { /* a page being left */ }
  };
  page.on('response', onResp);
  // 62 runs: the newest 50 on the first page, the rest on the second
  await page.waitForFunction(() => /of 6\d/.test(document.getElementById('page-info').textContent), null, { timeout: 10000 });
  let shown = await listed();
  assert(shown.length === 50, `first page: ${shown.length} runs`);
  assert(shown[0] === 'page-059', `newest first: ${shown[0]}`);
  await page.locator('#page-next').click();
  await page.waitForFunction(() => /^51–/.test(document.getElementById('page-info').textContent));
  shown = await listed();
  assert(shown.length >= 12 && shown.includes(HEALTHY) && shown.includes(COLLAPSING), JSON.stringify(shown));
  assert(new URL(page.url()).searchParams.get('page') === '1', page.url());
  await page.locator('#page-prev').click();
  await page.waitForFunction(() => /^1–50 /.test(document.getElementById('page-info').textContent));
  // the selected runs stay drawn whatever page the list shows
  assert((await page.locator('.panel[data-metric="er_entropy"] tr[data-run]').count()) >= 2, 'legend lost runs');
  const settled = runsAnswers.length;
  await page.waitForTimeout(2500); // a few live polls, nothing new pushed
  page.off('response', onResp);
  const big = runsAnswers.filter((a) => a.n > 50);
  assert(runsAnswers.length >= 3 && big.length === 0, JSON.stringify(runsAnswers.slice(0, 8)));
  // in the steady state a poll answers only what changed: next to nothing
  const polls = runsAnswers.slice(settled).filter((a) => a.url.includes('since='));
  assert(polls.length >= 1 && polls.every((a) => a.n <= 2), JSON.stringify(polls));
  console.log(`# ${runsAnswers.length} /api/runs answers in the paging test, at most ${Math.max(...runsAnswers.map((a) => a.n))} runs each`);
});

test('deleted_run_disappears_renamed_run_follows', async () => {
  pyPush(`seed.push_many(${JSON.stringify(ZMQ)}, ['lc-doomed', 'lc-moving'], ${JSON.stringify(TAG)})`);
  await page.waitForSelector('#runs li[data-run="lc-moving"]', { timeout: 10000 });
  await page.locator('#runs li[data-run="lc-moving"] input').check();
  await page.waitForFunction(() => new URL(location.href).searchParams.getAll('run').includes('lc-moving'));
  const colour = await page.locator('#runs li[data-run="lc-moving"] .sw').evaluate((e) => e.style.background);
  execFileSync(ERWATCH, ['rm', '--http', URL0, 'lc-doomed'], { stdio: 'inherit' });
  execFileSync(ERWATCH, ['mv', '--http', URL0, 'lc-moving', 'lc-moved'], { stdio: 'inherit' });
  const t0 = Date.now();
  await page.waitForFunction(() => {
    const l = [...document.querySelectorAll('#runs li[data-run]')].map((x) => x.dataset.run);
    return !l.includes('lc-doomed') && !l.includes('lc-moving') && l.includes('lc-moved');
  }, null, { timeout: 10000 });
  console.log(`# the list followed rm and mv within ${Date.now() - t0} ms`);
  await page.waitForFunction(() => new URL(location.href).searchParams.getAll('run').includes('lc-moved'), null, { timeout: 5000 });
  const runs = new URL(page.url()).searchParams.getAll('run');
  assert(!runs.includes('lc-moving') && runs.includes(HEALTHY), JSON.stringify(runs));
  assert(await page.locator('#runs li[data-run="lc-moved"] input').isChecked(), 'the renamed run is no longer selected');
  const after = await page.locator('#runs li[data-run="lc-moved"] .sw').evaluate((e) => e.style.background);
  assert(after === colour, `colour ${colour} -> ${after}`);
  await page.waitForSelector('.panel[data-metric="er_entropy"] tr[data-run="lc-moved"]', { timeout: 10000 });
  // each panel reloads on its own: every one of them drops the old name soon
  const stale = () => page.evaluate(() => [...document.querySelectorAll('.panel tr[data-run="lc-moving"]')].map((r) => r.closest('.panel').dataset.metric));
  await page.waitForFunction(() => document.querySelectorAll('.panel tr[data-run="lc-moving"]').length === 0, null, { timeout: 10000 })
    .catch(async () => assert(false, `panels still showing the old name after 10 s: ${JSON.stringify(await stale())}`));
});

test('pooled_run_draws_its_rank_count_against_its_world_size', async () => {
  // a 2-rank pooled job through the CLI: steps 0..3 whole, step 4 with
  // rank 1 missing, completed by --pool-timeout-ms (test_browser.py)
  const dir = fs.mkdtempSync(path.join(process.env.TMPDIR || '/tmp', 'ew-pool-'));
  const npy = path.join(dir, 'x.npy');
  execFileSync(PY, ['-c', `import numpy as np; r = np.random.default_rng(3).standard_normal((16, 8)); np.save(${JSON.stringify(npy)}, (r / np.linalg.norm(r, axis=1, keepdims=True)).astype('float32'))`],
    { stdio: 'inherit', env: { ...process.env, LD_PRELOAD: '' } });
  const push = (step, rank) => execFileSync(ERWATCH, ['push', '--endpoint', ZMQ, '--run', 'ddp-pooled', '--tag', TAG,
    '--step', String(step), '--rank', String(rank), '--world', '2', '--pool', npy],
  { stdio: 'inherit', env: { ...process.env, LD_PRELOAD: process.env.EW_PY_PRELOAD || '' } });
  try {
    for (let step = 0; step < 5; step++) for (const rank of step === 4 ? [0] : [0, 1]) push(step, rank);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const deadline = Date.now() + 20000;
  let s = null;
  while (Date.now() < deadline) {
    const r = await fetch(`${URL0}/api/series?run=ddp-pooled&tag=${TAG}&metric=pool_ranks`);
    if (r.ok && (s = await r.json()).step.length === 5) break;
    await new Promise((res) => setTimeout(res, 200));
  }
  assert(s && JSON.stringify(s.value) === '[2,2,2,2,1]', `pool_ranks: ${JSON.stringify(s)}`);
  const p2 = await browser.ctx.newPage();
  try {
    await p2.goto(`${URL0}/?run=ddp-pooled&tag=${TAG}`);
    await p2.waitForFunction(() => { const p = window.erwatch?.panels.get('pool_ranks'); return p && [...p.runs.values()].some((e) => e.full); }, null, { timeout: 15000 });
    const got = await p2.evaluate(() => {
      const p = window.erwatch.panels.get('pool_ranks');
      return { title: p.root.querySelector('h3 span').textContent, refs: p.refs().map((r) => `${r.label}=${r.v}`),
        metricRefs: window.erwatch.panels.get('er_entropy').refs().map((r) => r.kind).sort() };
    });
    assert(got.title === 'Ranks pooled', JSON.stringify(got));
    assert(JSON.stringify(got.refs) === '["all 2 ranks=2"]', JSON.stringify(got));
    assert(JSON.stringify(got.metricRefs) === '["collapsed","ideal"]', `the metric panels keep their levels: ${JSON.stringify(got)}`);
    await p2.locator('section.panel[data-metric="pool_ranks"]').screenshot({ path: path.join(SHOTS, 'dashboard-pool-ranks.png') });
  } finally {
    await p2.close();
  }
});

test('no_page_errors_or_failed_requests', async () => {
  // /api/spectrum may answer 404 (nothing stored) and /api/alerts 404 (a
  // daemon without alerting): states, not errors
  const bad = failures.filter((f) => !/\/api\/(spectrum|alerts)/.test(f));
  assert(bad.length === 0, bad.join('\n'));
  await shot('dashboard-final');
});

process.exitCode = await run({
  before: async () => {
    assert(URL0 && ZMQ, 'EW_URL and EW_ZMQ must be set');
    browser = await launch({ width: 1440, height: 1000 });
    page = await browser.ctx.newPage();
    page.setDefaultTimeout(15000);
    page.on('pageerror', (e) => failures.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) failures.push(`console: ${m.text()}`);
    });
    page.on('response', (r) => {
      if (r.status() >= 400) failures.push(`HTTP ${r.status()} ${r.url()}`);
    });
    page.on('request', (r) => {
      if (r.url().includes('/api/series')) requests.push(new URL(r.url()));
    });
  },
  after: async () => {
    if (browser) await browser.close();
  },
});
