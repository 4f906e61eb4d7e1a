// Shared by the dashboard's browser tests: the bundle built from the current sources into
// dist/ui (file by file, atomically, so parallel test files never see half a file), Chromium
// with no access to anything but the server, and a folder for screenshots.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const haveChromium = existsSync(CHROMIUM);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Build the dashboard bundle the server serves from dist/ui (the same script `npm run build` runs). */
export async function buildDashboard(): Promise<void> {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-ui-build-'));
  try {
    execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'build-ui.mjs'), tmp], {
      cwd: ROOT,
      stdio: 'inherit',
      env: { ...process.env, SLUICE_BUILD_QUIET: process.env['SLUICE_BUILD_QUIET'] ?? '' },
    });
    const out = path.join(ROOT, 'dist', 'ui');
    await fs.mkdir(out, { recursive: true });
    for (const name of ['app.css', 'app.js', 'index.html']) {
      const staged = path.join(out, `.${name}.${process.pid}.tmp`);
      await fs.copyFile(path.join(tmp, name), staged);
      await fs.rename(staged, path.join(out, name));
    }
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

export interface Browser {
  context: BrowserContext;
  /** Requests the pages made to anywhere but the server (refused). */
  outside: string[];
  shots: string;
  page(): Promise<Page>;
  screenshot(page: Page, name: string): Promise<void>;
  close(): Promise<void>;
}

/** Headless Chromium at 1280×800 that may reach only `serverUrl`; screenshots go to a temp folder (printed). */
export async function launch(serverUrl: string, label: string): Promise<Browser> {
  const userDataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-chromium-ui-'));
  const shots = await fs.mkdtemp(path.join(os.tmpdir(), `sluice-ui-shots-${label}-`));
  console.log(`dashboard screenshots (${label}): ${shots}`);
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });
  const outside: string[] = [];
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(serverUrl)) return route.continue();
    outside.push(url);
    return route.abort('internetdisconnected');
  });
  return {
    context,
    outside,
    shots,
    page: async () => {
      const page = await context.newPage();
      page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
      return page;
    },
    screenshot: async (page, name) => {
      await page.evaluate('window.scrollTo(0, 0)');
      await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: false });
    },
    close: async () => {
      await context.close();
      await fs.rm(userDataDir, { recursive: true, force: true });
    },
  };
}
