// A real browser's EventSource against Sluice: headless Chromium loads a page from another
// origin (CORS), receives live records, loses its connection, and resumes with no gap or repeat.
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startIsolatedServer, type TestServer } from '../support/server.js';
import { createTopic, produce, startProxy } from '../sse-support.js';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  console.warn(`SKIPPED browser SSE test: ${CHROMIUM} is missing (install it with: apt-get install -y chromium)`);
}

// The page: subscribes with EventSource to the URL given in its query string and records
// every record event (value and lastEventId) and every (re)open for the test to inspect.
const PAGE = `<!doctype html><meta charset="utf-8"><title>sluice sse</title><script>
window.received = []; window.opens = 0; window.errors = [];
window.subscribe = (url) => {
  const es = new EventSource(url);
  es.onopen = () => { window.opens++; };
  es.addEventListener('record', (e) => {
    window.received.push({ value: JSON.parse(e.data).value, id: e.lastEventId });
  });
  es.addEventListener('error', (e) => { if (e.data) window.errors.push(e.data); });
  window.es = es;
};
</script>`;

/** What the page keeps on its global object (evaluated in the browser: no imports there). */
interface PageState {
  received: Array<{ value: unknown; id: string }>;
  opens: number;
  errors: string[];
  es: { close(): void };
  subscribe(url: string): void;
}

describe.skipIf(!haveChromium)('browser EventSource (headless Chromium, cross-origin)', () => {
  let server: TestServer;
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  let pageServer: http.Server;
  let pageOrigin: string;
  let context: BrowserContext;
  let userDataDir: string;

  beforeAll(async () => {
    pageServer = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(PAGE);
    });
    await new Promise<void>((resolve) => pageServer.listen(0, '127.0.0.1', resolve));
    pageOrigin = `http://127.0.0.1:${(pageServer.address() as AddressInfo).port}`;
    // No cross-origin callers by default: the page's origin is listed.
    server = await startIsolatedServer({ SLUICE_SSE_RETRY_MS: '200', SLUICE_CORS_ORIGINS: pageOrigin });
    proxy = await startProxy(Number(new URL(server.url).port));
    userDataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    await proxy?.close();
    await new Promise<void>((resolve) => (pageServer ? pageServer.close(() => resolve()) : resolve()));
    await server?.stop();
    if (userDataDir) await fs.rm(userDataDir, { recursive: true, force: true });
  });

  const received = (page: Page) => page.evaluate(() => (globalThis as unknown as PageState).received);
  const waitForCount = (page: Page, n: number) =>
    page.waitForFunction((count) => (globalThis as unknown as PageState).received.length >= count, n, {
      timeout: 15_000,
    });

  it('receives live records, survives a dropped connection and a close/reopen without gap or repeat', async () => {
    const topic = `t-${randomUUID()}`;
    await createTopic(server.url, topic, 2);
    const page = await context.newPage();
    await page.goto(pageOrigin);
    // Another origin than the page: the browser enforces CORS on this stream.
    const streamUrl = `http://127.0.0.1:${proxy.port}/v1/topics/${topic}/events?from=earliest`;
    await page.evaluate((url) => (globalThis as unknown as PageState).subscribe(url), streamUrl);
    await page.waitForFunction(() => (globalThis as unknown as PageState).opens === 1, undefined, {
      timeout: 15_000,
    });

    await produce(
      server.url,
      topic,
      [0, 1, 2, 3].map((v) => ({ value: v, partition: v % 2 })),
    );
    await waitForCount(page, 4);

    // The network drops: EventSource reconnects by itself, sending Last-Event-ID. Because the
    // URL says from=earliest, anything but a correct resume would repeat records.
    proxy.cut();
    await produce(
      server.url,
      topic,
      [4, 5, 6].map((v) => ({ value: v, partition: v % 2 })),
    );
    await waitForCount(page, 7);
    expect(await page.evaluate(() => (globalThis as unknown as PageState).opens)).toBeGreaterThanOrEqual(2);

    // The page closes its stream; records arrive meanwhile; it resumes with ?last_event_id=.
    const lastId = await page.evaluate(() => {
      const w = globalThis as unknown as PageState;
      w.es.close();
      return w.received[w.received.length - 1]?.id ?? '';
    });
    await produce(
      server.url,
      topic,
      [7, 8, 9].map((v) => ({ value: v, partition: v % 2 })),
    );
    await page.evaluate(
      (url) => (globalThis as unknown as PageState).subscribe(url),
      `${streamUrl}&last_event_id=${encodeURIComponent(lastId)}`,
    );
    await waitForCount(page, 10);
    await produce(server.url, topic, [{ value: 10, partition: 0 }]);
    await waitForCount(page, 11);

    const values = (await received(page)).map((r) => r.value as number);
    // Each partition in order; together exactly 0..10 once each.
    expect([...values].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    for (const p of [0, 1]) {
      const mine = values.filter((v) => v % 2 === p);
      expect(mine).toEqual([...mine].sort((a, b) => a - b));
    }
    expect(await page.evaluate(() => (globalThis as unknown as PageState).errors)).toEqual([]);
    await page.close();
  }, 90_000);
});
