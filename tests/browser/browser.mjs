// browser.mjs: starts Debian's chromium headless through playwright-core
// (never a downloaded browser) with a fresh, empty profile that is removed
// on close.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const { chromium } = require(path.join(ROOT, 'web', 'node_modules', 'playwright-core'));

export const CHROMIUM = process.env.EW_CHROMIUM || '/usr/bin/chromium';

// tls: { username, password } for a daemon behind --web-config (HTTPS with
// the test's own self-signed certificate, and basic auth).
export async function launch({ width = 1440, height = 900, scale = 1, tls = null } = {}) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'ew-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width, height },
    deviceScaleFactor: scale,
    acceptDownloads: true,
    ...(tls ? { ignoreHTTPSErrors: true, httpCredentials: tls } : {}),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const close = async () => {
    try {
      await ctx.close();
    } finally {
      fs.rmSync(profile, { recursive: true, force: true });
    }
  };
  return { ctx, close };
}
