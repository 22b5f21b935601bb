// test_tls.mjs: the dashboard through --web-config (HTTPS and basic auth):
// chromium, given the user and password as a browser would get them from
// its prompt, loads the page, lists the seeded runs and draws their charts,
// every request answered (no 401, no TLS failure).
//   EW_URL   the daemon's https:// base URL
//   EW_USER, EW_PASS   a user of the web config's basic_auth_users
import { test, assert, run } from './tap.mjs';
import { launch } from './browser.mjs';

const URL0 = process.env.EW_URL;
let browser, page;
const failures = [];

test('dashboard_over_https_with_basic_auth', async () => {
  assert(URL0.startsWith('https://'), URL0);
  await page.goto(URL0 + '/');
  await page.locator('#runs li[data-run]').first().waitFor();
  const runs = await page.locator('#runs li[data-run]').evaluateAll((lis) => lis.map((l) => l.dataset.run));
  assert(runs.length >= 1, 'no run listed');
  await page.locator('canvas').first().waitFor();
  const bad = failures.filter((f) => !/\/api\/(spectrum|alerts)/.test(f));
  assert(bad.length === 0, bad.join('\n'));
});

test('wrong_password_is_refused', async () => {
  const other = await launch({ tls: { username: process.env.EW_USER, password: 'wrong' } });
  try {
    const p = await other.ctx.newPage();
    const r = await p.goto(URL0 + '/api/health');
    assert(r.status() === 401, `status ${r.status()}`);
  } finally {
    await other.close();
  }
});

process.exitCode = await run({
  before: async () => {
    browser = await launch({ tls: { username: process.env.EW_USER, password: process.env.EW_PASS } });
    page = await browser.ctx.newPage();
    page.setDefaultTimeout(15000);
    page.on('pageerror', (e) => failures.push(`page error: ${e.message}`));
    page.on('response', (r) => {
      if (r.status() >= 400) failures.push(`HTTP ${r.status()} ${r.url()}`);
    });
  },
  after: async () => {
    if (browser) await browser.close();
  },
});
