// The dashboard with access control on (headless Chromium): it asks for a key once per tab,
// streams with a browser token, disables what the key may not do, shows the server's refusal of
// an action the key lacks, and asks for a key again when the key is revoked under the open tab.
import { randomUUID } from 'node:crypto';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, createKey, type KeyBody } from '../auth-support.js';
import { startIsolatedServer, type TestServer } from '../support/server.js';
import { buildDashboard, CHROMIUM, haveChromium, launch, type Browser } from './dashboard-support.js';

if (!haveChromium) {
  console.warn(
    `SKIPPED dashboard access-control browser test: ${CHROMIUM} is missing (install it with: apt-get install -y chromium)`,
  );
}

describe.skipIf(!haveChromium)('dashboard with access control (headless Chromium)', () => {
  const ADMIN = `adm_${randomUUID()}${randomUUID()}`;
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  let key: KeyBody;
  const mine = `ro-${randomUUID().slice(0, 8)}`;
  const hidden = `secret-${randomUUID().slice(0, 8)}`;

  const admin = async (method: string, path: string, body?: unknown): Promise<Response> => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: { ...bearer(ADMIN), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return res;
  };

  beforeAll(async () => {
    await buildDashboard();
    server = await startIsolatedServer({
      SLUICE_ADMIN_KEY: ADMIN,
      SLUICE_OVERVIEW_INTERVAL_MS: '250',
      SLUICE_SSE_RETRY_MS: '200',
    });
    await admin('POST', '/v1/topics', { name: mine });
    await admin('POST', '/v1/topics', { name: hidden });
    // Reads and describes ro-*, may create topics named ok-*; may not write anything.
    key = await createKey(
      server.url,
      [
        { resource: 'topic', name: 'ro-', pattern: 'prefixed', actions: ['read', 'describe'] },
        { resource: 'topic', name: 'ok-', pattern: 'prefixed', actions: ['create', 'describe'] },
      ],
      { as: ADMIN, name: 'viewer' },
    );
    browser = await launch(server.url, 'auth');
    page = await browser.page();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('asks for a key once per tab and shows only what the key may describe', async () => {
    await page.goto(`${server.url}/ui`);
    const prompt = page.getByRole('form', { name: 'API key' });
    await prompt.waitFor({ timeout: 20_000 });
    await browser.screenshot(page, '0-key-prompt');
    await page.locator('input[name="api-key"]').fill(key.key);
    await page.getByRole('button', { name: 'Use this key' }).click();
    await page.locator(`tr[data-topic="${mine}"]`).waitFor({ timeout: 10_000 });
    expect(await page.locator(`tr[data-topic="${hidden}"]`).count()).toBe(0);
    expect(await page.getByText('Health and rates need cluster:describe.').count()).toBe(1);
    // The key is in this tab's sessionStorage, not in localStorage or a cookie.
    expect(await page.evaluate('sessionStorage.getItem("sluice.key")')).toBe(key.key);
    expect(await page.evaluate('localStorage.length')).toBe(0);
    expect((await browser.context.cookies()).length).toBe(0);
    // A reload keeps it: no second prompt.
    await page.reload();
    await page.locator(`tr[data-topic="${mine}"]`).waitFor({ timeout: 10_000 });
    await browser.screenshot(page, '1-overview-viewer');
  }, 60_000);

  it('tails over a browser token; the produce form is disabled with the missing grant named', async () => {
    const streamUrls: string[] = [];
    page.on('request', (r) => {
      if (r.url().includes('/events')) streamUrls.push(r.url());
    });
    await page.goto(`${server.url}/ui#/topics/${mine}`);
    await page.getByTestId('topic-name').waitFor({ timeout: 10_000 });
    const produce = page.getByRole('button', { name: 'Produce' });
    expect(await produce.isDisabled()).toBe(true);
    expect(await produce.getAttribute('title')).toBe(`your key lacks topic:write on ${JSON.stringify(mine)}`);
    expect(await page.getByRole('button', { name: 'Save config' }).isDisabled()).toBe(true);

    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await page.getByTestId('tail-status').filter({ hasText: 'live' }).waitFor({ timeout: 10_000 });
    await admin('POST', `/v1/topics/${mine}/records`, { records: [{ key: 'from-admin', value: { n: 1 } }] });
    await page.locator('[data-testid="tail"] tbody tr').filter({ hasText: 'from-admin' }).waitFor({ timeout: 5_000 });
    // EventSource cannot send headers: its URLs carry a browser token, never the key.
    expect(streamUrls.length).toBeGreaterThan(0);
    for (const u of streamUrls) {
      expect(u).toContain('access_token=eyJ');
      expect(u).not.toContain(key.key);
    }
    await browser.screenshot(page, '2-topic-viewer');
  }, 60_000);

  it('an action the key lacks is refused by the server and the page says why', async () => {
    await page.goto(`${server.url}/ui#/`);
    await page.getByLabel('Name').fill(`no-${randomUUID().slice(0, 8)}`);
    await page.getByRole('button', { name: 'Create topic' }).click();
    const alert = page.getByRole('alert').filter({ hasText: 'forbidden' });
    await alert.waitFor({ timeout: 10_000 });
    expect(await alert.innerText()).toContain('may not create topic');
    await browser.screenshot(page, '3-refused');
    // What the key may do still works.
    const allowed = `ok-${randomUUID().slice(0, 8)}`;
    await page.getByLabel('Name').fill(allowed);
    await page.getByRole('button', { name: 'Create topic' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: `Created topic ${allowed}` })
      .waitFor({ timeout: 10_000 });
  }, 60_000);

  it("after Forget key, the next key's page shows nothing of the previous key's overview", async () => {
    const other = await createKey(
      server.url,
      [{ resource: 'topic', name: 'ro-', pattern: 'prefixed', actions: ['read', 'describe'] }],
      { as: ADMIN, name: 'next-user' },
    );
    const tab = await browser.page();
    await tab.goto(`${server.url}/ui`);
    await tab.locator('input[name="api-key"]').fill(ADMIN);
    await tab.getByRole('button', { name: 'Use this key' }).click();
    await tab.locator(`tr[data-topic="${hidden}"]`).waitFor({ timeout: 10_000 });
    await tab.getByRole('button', { name: 'Forget key' }).click();
    // The next key's overview stream is refused (as at its max_streams): no snapshot of its own comes.
    await tab.route('**/v1/overview/events*', (route) =>
      route.fulfill({ status: 503, contentType: 'application/json', body: '{"error":{"code":"unavailable"}}' }),
    );
    await tab.locator('input[name="api-key"]').fill(other.key);
    await tab.getByRole('button', { name: 'Use this key' }).click();
    await tab.getByRole('button', { name: 'Forget key' }).waitFor({ timeout: 10_000 });
    await tab.getByText(`key ${other.id}`).waitFor({ timeout: 10_000 });
    expect(await tab.locator(`tr[data-topic="${hidden}"]`).count()).toBe(0);
    expect(await tab.locator('tr[data-topic]').count()).toBe(0);
    await tab.close();
  }, 60_000);

  it('a key revoked while the tab is open: the page asks for a key again', async () => {
    await page.goto(`${server.url}/ui#/topics/${mine}`);
    await page.getByTestId('topic-name').waitFor({ timeout: 10_000 });
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await page.getByTestId('tail-status').filter({ hasText: 'live' }).waitFor({ timeout: 10_000 });
    await admin('DELETE', `/v1/keys/${key.id}`);
    // Its streams end within about a second; the reconnect is refused; the page asks again.
    const prompt = page.getByRole('form', { name: 'API key' });
    await prompt.waitFor({ timeout: 15_000 });
    expect(await prompt.getByRole('alert').innerText()).toContain('The key was refused');
    await browser.screenshot(page, '4-key-revoked');
    // Another key works in the same tab.
    const next = await createKey(
      server.url,
      [{ resource: 'topic', name: 'ro-', pattern: 'prefixed', actions: ['read', 'describe', 'write'] }],
      { as: ADMIN, name: 'writer' },
    );
    await page.locator('input[name="api-key"]').fill(next.key);
    await page.getByRole('button', { name: 'Use this key' }).click();
    await page.getByTestId('topic-name').waitFor({ timeout: 10_000 });
    expect(await page.getByRole('button', { name: 'Produce' }).isDisabled()).toBe(false);
    expect(browser.outside).toEqual([]);
  }, 60_000);

  it('the "API reference" link opens /docs with a key in use (a browser sends no Authorization header)', async () => {
    const describer = await createKey(
      server.url,
      [
        { resource: 'cluster', name: '*', pattern: 'literal', actions: ['describe'] },
        { resource: 'topic', name: 'ro-', pattern: 'prefixed', actions: ['read', 'describe'] },
      ],
      { as: ADMIN, name: 'describer' },
    );
    const tab = await browser.page();
    await tab.goto(`${server.url}/ui`);
    await tab.locator('input[name="api-key"]').fill(describer.key);
    await tab.getByRole('button', { name: 'Use this key' }).click();
    await tab.locator(`tr[data-topic="${mine}"]`).waitFor({ timeout: 10_000 });
    const answer = tab.waitForResponse((r) => new URL(r.url()).pathname === '/docs');
    await tab.getByRole('link', { name: 'API reference' }).click();
    const docs = await answer;
    expect(docs.status()).toBe(200);
    expect(docs.request().headers()['authorization']).toBeUndefined();
    await tab.getByRole('heading', { level: 1 }).filter({ hasText: 'Sluice' }).waitFor({ timeout: 10_000 });
    expect(await tab.locator('[data-operation-id="createTopic"]').count()).toBe(1);
    // The key never goes into the URL; the token there may only describe the cluster.
    expect(tab.url()).not.toContain(describer.key);
    const token = new URL(tab.url()).searchParams.get('access_token')!;
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { gr: unknown };
    expect(claims.gr).toEqual([{ resource: 'cluster', name: 'cluster', pattern: 'literal', actions: ['describe'] }]);
    // The page's link to the document opens too.
    const spec = tab.waitForResponse((r) => new URL(r.url()).pathname === '/openapi.json');
    await tab.getByRole('link', { name: '/openapi.json' }).click();
    expect((await spec).status()).toBe(200);
    await browser.screenshot(tab, '5-docs-with-key');
    await tab.close();

    // A key without cluster:describe: the link says why instead of leading to a 403.
    const viewer = await browser.page();
    await viewer.goto(`${server.url}/ui`);
    const second = await createKey(
      server.url,
      [{ resource: 'topic', name: 'ro-', pattern: 'prefixed', actions: ['read', 'describe'] }],
      { as: ADMIN, name: 'viewer2' },
    );
    await viewer.locator('input[name="api-key"]').fill(second.key);
    await viewer.getByRole('button', { name: 'Use this key' }).click();
    await viewer.locator(`tr[data-topic="${mine}"]`).waitFor({ timeout: 10_000 });
    const disabled = viewer.getByText('API reference');
    expect(await disabled.getAttribute('aria-disabled')).toBe('true');
    expect(await disabled.getAttribute('title')).toBe('your key lacks cluster:describe');
    await viewer.close();
    expect(browser.outside).toEqual([]);
  }, 60_000);
});
