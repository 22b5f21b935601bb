// unit.mjs: the dashboard's pure modules under node (no browser): EMA
// smoothing, the URL form of the view state, value formatting.
import { test, assert, assertClose, run } from './tap.mjs';
import { ema } from '../../web/src/smooth.js';
import { parseState, stateToSearch, defaultState, defaultSelection } from '../../web/src/state.js';
import { fmtValue, parseValue, fmtStep, fmtTime, fmtTimeTicks, csvText } from '../../web/src/format.js';
import { layoutLabels, labelsOverlap } from '../../web/src/marks.js';
import { flattenConfig } from '../../web/src/runinfo.js';

test('config_flattens_to_dotted_keys', () => {
  const f = flattenConfig({ lr: 0.05, opt: { name: 'sgd', betas: [0.9, 0.99], extra: {} }, tag: 'x', on: true, n: null });
  const want = [['lr', '0.05'], ['opt.name', 'sgd'], ['opt.betas', '[0.9,0.99]'], ['opt.extra', '{}'],
    ['tag', 'x'], ['on', 'true'], ['n', 'null']];
  assert(JSON.stringify(f) === JSON.stringify(want), JSON.stringify(f));
  assert(flattenConfig(null).length === 0);
});

test('ema_zero_weight_is_identity', () => {
  const v = [1, 2, null, 4];
  const s = ema(v, 0);
  assert(s[0] === 1 && s[1] === 2 && Number.isNaN(s[2]) && s[3] === 4, String(s));
});

test('ema_bias_corrected_like_tensorboard', () => {
  // TensorBoard: last = last*w + (1-w)*v; shown last / (1 - w^n)
  const w = 0.6;
  const v = [3, 5, 4, 10];
  const s = ema(v, w);
  let last = 0;
  for (let i = 0; i < v.length; i++) {
    last = last * w + (1 - w) * v[i];
    assertClose(s[i], last / (1 - Math.pow(w, i + 1)), 1e-15, `s[${i}]`);
  }
  assertClose(s[0], 3, 1e-15, 'the first smoothed value is the first value (no pull to 0)');
});

test('ema_constant_series_stays_constant', () => {
  const s = ema(new Array(50).fill(-17.25), 0.95);
  for (const x of s) assertClose(x, -17.25, 1e-12, 'constant');
});

test('ema_skips_undefined_values', () => {
  const s = ema([2, null, NaN, 4], 0.5);
  assert(Number.isNaN(s[1]) && Number.isNaN(s[2]), 'gaps stay gaps');
  // 4 is the second finite value: (0.5*0.5*2 + 0.5*4) / (1 - 0.25)
  assertClose(s[3], (0.25 * 2 + 0.5 * 4) / 0.75, 1e-15, 's[3]');
});

test('state_round_trips_through_url', () => {
  const s = defaultState();
  s.runs = ['a,b', 'ünï cødé', 'x&y=z'];
  s.tag = 'proj ector';
  s.metrics = ['er_entropy', 'loss'];
  s.smooth = 0.6;
  s.x = 'time';
  s.y = 'log';
  s.range = [1700000000.25, 1700000100.5];
  s.filter = 'simclr';
  s.spec = 'a,b';
  const back = parseState(stateToSearch(s));
  assert(JSON.stringify(back) === JSON.stringify(s), `${JSON.stringify(back)} != ${JSON.stringify(s)}`);
});

test('state_defaults_and_bad_values', () => {
  const s = parseState('?smooth=7&x=bogus&from=5&to=2&y=lin');
  assert(s.smooth === 0 && s.x === 'step' && s.range === null && s.runs === null, JSON.stringify(s));
  assert(stateToSearch(defaultState()) === '', 'defaults give an empty query');
});

test('format_values_round_trip', () => {
  for (const v of [-17.392512345, 0.000123456, 1234567.89, 0, 42, -1e-9]) {
    const back = parseValue(fmtValue(v));
    assertClose(back, v, 1e-5, `fmtValue(${v}) = ${fmtValue(v)}`);
  }
  assert(fmtValue(null) === '—' && fmtValue(NaN) === '—', 'undefined shows a dash');
  assert(fmtStep(1234567) === '1\u202f234\u202f567', fmtStep(1234567));
});

test('alert_labels_never_overlap', () => {
  // 40 markers, many at the same or nearly the same x, labels of mixed width
  const items = [];
  for (let i = 0; i < 40; i++) items.push({ x: 100 + (i % 7) * 9 + (i > 30 ? 400 : 0), width: 60 + (i % 5) * 25 });
  const out = layoutLabels(items, { left: 0, right: 600, rowHeight: 15, gap: 3, maxRows: 12 });
  let placed = 0;
  for (let i = 0; i < out.length; i++) {
    if (!out[i]) continue;
    placed++;
    assert(out[i].x0 >= 0 && out[i].x1 <= 600, `label ${i} outside [0, 600]: ${JSON.stringify(out[i])}`);
    for (let j = 0; j < i; j++) assert(!labelsOverlap(out[i], out[j], 15), `labels ${i} and ${j} overlap: ${JSON.stringify([out[i], out[j]])}`);
  }
  assert(placed >= 12, `only ${placed} labels placed`);
  // near the right edge a label goes left of its line
  const edge = layoutLabels([{ x: 590, width: 80 }], { left: 0, right: 600, rowHeight: 15 });
  assert(!edge[0].onRight && edge[0].x1 <= 590, JSON.stringify(edge));
  // two far apart share the first row
  const two = layoutLabels([{ x: 10, width: 50 }, { x: 300, width: 50 }], { left: 0, right: 600, rowHeight: 15 });
  assert(two[0].row === 0 && two[1].row === 0, JSON.stringify(two));
});

test('default_selection_ticks_only_runs_with_the_tag', () => {
  const runs = [
    { run: 'newest', tags: [{ tag: 'backbone' }] },
    { run: 'a', tags: [{ tag: 'projector' }] },
    { run: 'empty', tags: [] },
    { run: 'b', tags: [{ tag: 'projector' }, { tag: 'backbone' }] },
    { run: 'c', tags: [{ tag: 'projector' }] },
  ];
  const d = defaultSelection(runs, null, 8);
  assert(d.tag === 'projector' && JSON.stringify(d.runs) === '["a","b","c"]', JSON.stringify(d));
  const e = defaultSelection(runs, 'backbone', 8); // the URL's tag wins when a run has it
  assert(e.tag === 'backbone' && JSON.stringify(e.runs) === '["newest","b"]', JSON.stringify(e));
  const f = defaultSelection(runs, 'nope', 8); // a tag no run has: as if none was asked
  assert(f.tag === 'projector' && JSON.stringify(f.runs) === '["a","b","c"]', JSON.stringify(f));
  const g = defaultSelection(runs.slice(1).concat([{ run: 'd', tags: [{ tag: 'projector' }] }]), null, 3);
  assert(g.tag === 'projector' && JSON.stringify(g.runs) === '["a","b","c"]', `at most n runs: ${JSON.stringify(g)}`);
  assert(JSON.stringify(defaultSelection([], null, 8)) === '{"tag":null,"runs":[]}', 'no runs');
});

test('one_time_format', () => {
  const t = Date.UTC(2026, 11, 4, 17, 6, 43) / 1000;
  assert(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/.test(fmtTime(t)), fmtTime(t));
  const ticks = fmtTimeTicks([t, t + 60, t + 86400]);
  assert(ticks[0] === `${fmtTime(t).slice(11)}\n${fmtTime(t).slice(0, 10)}`, ticks[0]);
  assert(ticks[1] === fmtTime(t + 60).slice(11), ticks[1]);
  assert(ticks[2].endsWith(fmtTime(t + 86400).slice(0, 10)), 'the date again where the day changes');
});


test('csv_text_cells_never_formulas', () => {
  const cases = [['plain', 'plain'], ['a,b', '"a,b"'], ['=HYPERLINK("x")', '"\'=HYPERLINK(""x"")"'],
    ['+1', "'+1"], ['-1+2', "'-1+2"], ['@SUM(A1)', "'@SUM(A1)"], ['\t=1', "'\t=1"],
    ['\r=1', '"\'\r=1"'], ['a=1', 'a=1']];
  for (const [inp, want] of cases) assert(csvText(inp) === want, `${JSON.stringify(inp)} -> ${csvText(inp)}, want ${want}`);
});

process.exitCode = await run();
