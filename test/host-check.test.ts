// DNS rebinding: a server on loopback answers only requests whose Host is a loopback name or
// address or a name listed in SLUICE_ALLOWED_HOSTS; anything else is 403 before any route runs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawConnect } from './support/raw-http.js';
import { startIsolatedServer, type TestServer } from './support/server.js';

async function getWithHost(url: string, host: string, path = '/v1/topics') {
  const conn = await rawConnect(url);
  conn.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  const res = await conn.response();
  conn.destroy();
  return res;
}

describe('Host check on a loopback server', () => {
  let server: TestServer;
  let port: string;
  beforeAll(async () => {
    server = await startIsolatedServer({ SLUICE_ALLOWED_HOSTS: 'sluice.internal,*.example.test' });
    port = new URL(server.url).port;
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('refuses a foreign Host (a rebound DNS name) with 403 naming SLUICE_ALLOWED_HOSTS', async () => {
    for (const host of [`evil.example:${port}`, 'evil.example', `10.0.0.5:${port}`, `sluice.internal.evil.example`]) {
      const res = await getWithHost(server.url, host);
      expect(res.status, host).toBe(403);
      const body = JSON.parse(res.body) as { error: Record<string, unknown> };
      expect(body.error).toMatchObject({ code: 'forbidden', reason: 'host_not_allowed' });
      expect(body.error['message']).toMatch(/SLUICE_ALLOWED_HOSTS/);
    }
    // Even the public probes: a rebinding page learns nothing.
    expect((await getWithHost(server.url, 'evil.example', '/healthz')).status).toBe(403);
  });

  it('answers loopback names and addresses, and the configured names', async () => {
    for (const host of [
      `127.0.0.1:${port}`,
      '127.0.0.1',
      `localhost:${port}`,
      'LOCALHOST.',
      'app.localhost',
      `[::1]:${port}`,
      `sluice.internal:${port}`,
      'a.example.test',
    ]) {
      expect((await getWithHost(server.url, host)).status, host).toBe(200);
    }
  });
});
