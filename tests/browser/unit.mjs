// unit.mjs: the dashboard's pure modules under node (no browser): EMA
// smoothing, the URL form of the view state, value formatting.
import { test, assert, assertClose, run } from './tap.mjs';
import { ema } from '../../web/src/smooth.js';
import { parseState, stateToSearch, defaultState } from '../../web/src/state.js';
import { fmtValue, parseValue, fmtStep } from '../../web/src/format.js';

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

process.exitCode = await run();
