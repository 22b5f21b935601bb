// tap.mjs: a minimal TAP-like runner for the node suites ("ok NAME" /
// "not ok NAME", what tests/run.sh counts). Tests run in order; a failure
// prints its message as "#" lines and the run goes on.

const tests = [];

export function test(name, fn) {
  tests.push({ name, fn });
}

export function assert(cond, msg) {
  if (!cond) throw new Error(msg || 'assertion failed');
}

export function assertClose(got, want, rel, what) {
  const err = Math.abs(got - want) / Math.max(1, Math.abs(want));
  if (!(err <= rel)) throw new Error(`${what}: got ${got}, want ${want} (rel err ${err} > ${rel})`);
}

export async function run({ before, after } = {}) {
  let passed = 0;
  let failed = 0;
  const only = process.env.TEST_ONLY;
  try {
    if (before) await before();
    for (const t of tests) {
      if (only && !t.name.includes(only)) continue;
      const t0 = Date.now();
      try {
        await t.fn();
        console.log(`ok ${t.name}  (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
        passed++;
      } catch (e) {
        for (const line of String(e && e.stack ? e.stack : e).split('\n')) console.log('# ' + line);
        console.log(`not ok ${t.name}`);
        failed++;
      }
    }
  } catch (e) {
    for (const line of String(e && e.stack ? e.stack : e).split('\n')) console.log('# ' + line);
    console.log('not ok setup');
    failed++;
  } finally {
    if (after) await after();
  }
  console.log(`# ${passed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}
