// /docs without internet: headless Chromium with every request outside the server refused
// renders the API reference (the operation list) from the server alone.
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startIsolatedServer, type TestServer } from '../support/server.js';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  console.warn(
    `SKIPPED /docs offline browser test: ${CHROMIUM} is missing (install it with: apt-get install -y chromium)`,
  );
}

describe.skipIf(!haveChromium)('/docs offline (headless Chromium)', () => {
  let server: TestServer;
  let context: BrowserContext;
  let userDataDir: string;

  beforeAll(async () => {
    server = await startIsolatedServer();
    userDataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-chromium-docs-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
    });
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    await server?.stop();
    if (userDataDir) await fs.rm(userDataDir, { recursive: true, force: true });
  });

  it('renders the operation list with nothing loaded from outside the server', async () => {
    const outside: string[] = [];
    await context.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith(server.url)) return route.continue();
      outside.push(url);
      return route.abort('internetdisconnected');
    });
    const page = await context.newPage();
    await page.goto(`${server.url}/docs`, { waitUntil: 'load' });
    const document = (await (await fetch(`${server.url}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { operationId: string }>>;
    };
    const ids = Object.values(document.paths).flatMap((item) => Object.values(item).map((op) => op.operationId));
    const createTopic = page.locator('[data-operation-id="createTopic"]');
    await createTopic.waitFor({ state: 'visible', timeout: 20_000 });
    expect(await createTopic.innerText()).toMatch(/POST\s+\/v1\/topics/);
    expect(await page.locator('[data-operation-id]').count()).toBe(ids.length);
    expect(outside).toEqual([]);
  }, 60_000);
});
