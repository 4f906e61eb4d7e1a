// Access control in a real browser (headless Chromium): an EventSource subscribes with a browser
// token in the URL and is refused once it expires; pages on other origins cannot change anything.
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, startTestServer, type TestEnv, type TestServer } from '../support/server.js';
import { bearer, captureLogs, type CapturedLogs } from '../auth-support.js';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  console.warn(`SKIPPED browser auth test: ${CHROMIUM} is missing (install it with: apt-get install -y chromium)`);
}

const PAGE = `<!doctype html><meta charset="utf-8"><title>sluice auth</title><script>
window.received = []; window.opens = 0; window.failed = false;
window.subscribe = (url) => {
  const es = new EventSource(url);
  es.onopen = () => { window.opens++; };
  es.addEventListener('record', (e) => { window.received.push(JSON.parse(e.data).value); });
  es.onerror = () => { if (es.readyState === EventSource.CLOSED) window.failed = true; };
  window.es = es;
};
</script>`;

interface PageState {
  received: unknown[];
  opens: number;
  failed: boolean;
  subscribe(url: string): void;
}

async function pageServer(): Promise<{ server: http.Server; origin: string }> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(PAGE);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe.skipIf(!haveChromium)('access control in a browser (headless Chromium)', () => {
  const ADMIN_KEY = `adm_${randomUUID()}${randomUUID()}`;
  let env: TestEnv;
  let server: TestServer;
  let logs: CapturedLogs;
  let allowed: Awaited<ReturnType<typeof pageServer>>;
  let other: Awaited<ReturnType<typeof pageServer>>;
  let context: BrowserContext;
  let userDataDir: string;

  beforeAll(async () => {
    allowed = await pageServer();
    other = await pageServer();
    logs = captureLogs();
    env = await createTestEnv({
      SLUICE_ADMIN_KEY: ADMIN_KEY,
      SLUICE_CORS_ORIGINS: allowed.origin,
      SLUICE_SSE_RETRY_MS: '200',
    });
    server = await startTestServer(env, { overrides: { logger: logs.logger } });
    userDataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
    });
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    await server?.stop();
    await env?.cleanup();
    for (const p of [allowed, other])
      await new Promise<void>((resolve) => (p ? p.server.close(() => resolve()) : resolve()));
    if (userDataDir) await fs.rm(userDataDir, { recursive: true, force: true });
  });

  async function admin(method: string, p: string, body?: unknown): Promise<Response> {
    return fetch(`${server.url}${p}`, {
      method,
      headers: { ...bearer(ADMIN_KEY), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  it('an EventSource subscribes with ?access_token= and is refused once the token expires', async () => {
    const topic = `t-${randomUUID()}`;
    expect((await admin('POST', '/v1/topics', { name: topic })).status).toBe(201);
    const minted = await admin('POST', '/v1/tokens', {
      grants: [{ resource: 'topic', name: topic, actions: ['read'] }],
      ttl_ms: 4_000,
    });
    const { token, expires_at } = (await minted.json()) as { token: string; expires_at: number };
    const page = await context.newPage();
    await page.goto(allowed.origin);
    const streamUrl = `${server.url}/v1/topics/${topic}/events?from=earliest&access_token=${encodeURIComponent(token)}`;
    await page.evaluate((url) => (globalThis as unknown as PageState).subscribe(url), streamUrl);
    await page.waitForFunction(() => (globalThis as unknown as PageState).opens === 1, undefined, { timeout: 15_000 });
    expect((await admin('POST', `/v1/topics/${topic}/records`, { records: [{ value: 1 }, { value: 2 }] })).status).toBe(
      200,
    );
    await page.waitForFunction(() => (globalThis as unknown as PageState).received.length === 2, undefined, {
      timeout: 15_000,
    });
    // At expiry the server ends the stream; EventSource reconnects, gets 401 and gives up.
    await page.waitForFunction(() => (globalThis as unknown as PageState).failed, undefined, { timeout: 20_000 });
    expect(Date.now()).toBeGreaterThanOrEqual(expires_at);
    expect(await page.evaluate(() => (globalThis as unknown as PageState).received)).toEqual([1, 2]);
    // A new subscription with the expired token never opens.
    await page.evaluate((url) => {
      const w = globalThis as unknown as PageState;
      w.failed = false;
      w.opens = 0;
      w.subscribe(url);
    }, streamUrl);
    await page.waitForFunction(() => (globalThis as unknown as PageState).failed, undefined, { timeout: 15_000 });
    expect(await page.evaluate(() => (globalThis as unknown as PageState).opens)).toBe(0);
    await page.close();
  }, 90_000);

  it('a page on another origin cannot call any state-changing route; a listed origin can', async () => {
    const topic = `t-${randomUUID()}`;
    expect((await admin('POST', '/v1/topics', { name: topic })).status).toBe(201);
    const doc = (await (await admin('GET', '/openapi.json')).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const targets: Array<{ method: string; url: string }> = [];
    for (const [template, item] of Object.entries(doc.paths)) {
      for (const method of Object.keys(item)) {
        if (method === 'get' || method === 'head') continue; // safe methods change nothing
        const p = template
          .replace('{topic}', topic)
          .replace('{partition}', '0')
          .replace(/\{[^}]+\}/g, () => randomUUID());
        targets.push({ method: method.toUpperCase(), url: `${server.url}${p}` });
      }
    }
    expect(targets.length).toBeGreaterThan(10);
    const page = await context.newPage();
    await page.goto(other.origin);
    const logsBefore = logs.text().length;
    // What a hostile page can do: simple requests need no preflight (text/plain, no-cors), others are preflighted.
    // It even holds the admin key: the origin, not the credential, is what is refused.
    const outcomes = await page.evaluate(
      async ({ targets, key }) =>
        Promise.all(
          targets.map(async (t) => {
            try {
              const simple = t.method === 'POST';
              const res = await fetch(t.url, {
                method: t.method,
                mode: simple ? 'no-cors' : 'cors',
                headers: simple ? { 'content-type': 'text/plain' } : { authorization: `Bearer ${key}` },
                body: t.method === 'DELETE' ? undefined : '{"name":"from-evil","records":[{"value":1}]}',
              });
              return `${t.method} ${t.url}: ${res.type} ${res.status}`;
            } catch (e) {
              return `${t.method} ${t.url}: blocked (${String(e)})`;
            }
          }),
        ),
      { targets, key: ADMIN_KEY },
    );
    for (const o of outcomes) expect(o).toMatch(/opaque 0|blocked/);
    // The server refused each one before doing anything: 403 on the request or its preflight, no 2xx.
    const lines = logs
      .text()
      .slice(logsBefore)
      .split('\n')
      .filter((l) => l.includes('"request completed"') || l.includes('"request failed"'))
      .map((l) => JSON.parse(l) as { method: string; path: string; status: number });
    for (const t of targets) {
      const p = new URL(t.url).pathname;
      const seen = lines.filter((l) => l.path === p);
      expect(seen.length, `${t.method} ${p} reached the server`).toBeGreaterThan(0);
      for (const l of seen) expect(l.status, `${l.method} ${p}`).toBe(403);
    }
    expect((await admin('GET', `/v1/topics/${topic}`)).status).toBe(200);
    expect((await admin('GET', '/v1/topics/from-evil')).status).toBe(404);
    expect(
      ((await (await admin('GET', `/v1/topics/${topic}`)).json()) as { partitions: Array<{ end_offset: number }> })
        .partitions[0]?.end_offset,
    ).toBe(0);

    // The listed origin, with a key, can create and delete (preflight passes, response readable).
    const good = await context.newPage();
    await good.goto(allowed.origin);
    const created = `t-${randomUUID()}`;
    const statuses = await good.evaluate(
      async ({ base, created, key }) => {
        const h = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
        const a = await fetch(`${base}/v1/topics`, {
          method: 'POST',
          headers: h,
          body: JSON.stringify({ name: created }),
        });
        const b = await fetch(`${base}/v1/topics/${created}`, { method: 'DELETE', headers: h });
        return [a.status, b.status];
      },
      { base: server.url, created, key: ADMIN_KEY },
    );
    expect(statuses).toEqual([201, 204]);
    await page.close();
    await good.close();
  }, 90_000);
});
