// smooth.js: exponential moving average with bias correction, as TensorBoard
// draws it. Pure; tested from node (tests/browser/unit.mjs).
//
// s_k = w * s_(k-1) + (1 - w) * v_k, s_0 = 0, shown as s_k / (1 - w^n) where
// n counts the finite values so far. Without the correction the curve would
// start at (1 - w) * v_1, i.e. near zero; with it the first value is v_1.
// A non-finite value (an undefined metric, null in the API) is passed
// through and does not enter the average.

export function ema(values, weight) {
  const n = values.length;
  const out = new Float64Array(n);
  if (!(weight > 0)) {
    for (let i = 0; i < n; i++) out[i] = values[i] == null ? NaN : values[i];
    return out;
  }
  const w = Math.min(weight, 0.999);
  let last = 0;
  let count = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v == null || !Number.isFinite(v)) {
      out[i] = NaN;
      continue;
    }
    last = last * w + (1 - w) * v;
    count++;
    out[i] = last / (1 - Math.pow(w, count));
  }
  return out;
}
