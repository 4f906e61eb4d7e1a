// `Expect: 100-continue` (curl sends it for large uploads): the client waits for `100 Continue`
// before sending its body. A request refused before its body is read (too large, no credentials,
// unknown topic) is answered at once without inviting the body; one the server reads gets the
// 100 first, so the client does not wait out its own timeout (curl's is 1 s).
import net from 'node:net';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startIsolatedServer, type TestServer } from './support/server.js';

const MAX = 64 * 1024;
const ADMIN = `adm_${randomUUID()}${randomUUID()}`;

let server: TestServer;
let topic: string;
beforeAll(async () => {
  server = await startIsolatedServer({
    SLUICE_MAX_BODY_BYTES: String(MAX),
    SLUICE_AUTH: 'keys',
    SLUICE_ADMIN_KEY: ADMIN,
  });
  topic = `t-${randomUUID()}`;
  const made = await fetch(`${server.url}/v1/topics`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}` },
    body: JSON.stringify({ name: topic, partitions: 1 }),
  });
  expect(made.status).toBe(201);
});
afterAll(async () => {
  await server?.stop();
});

/**
 * Sends the request's head only, then what `then` decides once the first answer's status line is
 * in: the body (after a 100) or nothing. Resolves with every status line received, in order.
 */
function expectContinue(
  path: string,
  headers: Record<string, string>,
  body: string,
): Promise<{ statuses: number[]; text: string }> {
  const u = new URL(server.url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(u.port), u.hostname);
    let text = '';
    let sentBody = false;
    const head =
      `POST ${path} HTTP/1.1\r\nHost: ${u.host}\r\nExpect: 100-continue\r\nConnection: close\r\n` +
      Object.entries(headers)
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('') +
      '\r\n';
    socket.on('connect', () => socket.write(head));
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (!sentBody && text.startsWith('HTTP/1.1 100 ') && text.includes('\r\n\r\n')) {
        sentBody = true;
        socket.write(body);
      }
    });
    socket.on('close', () => {
      const statuses = [...text.matchAll(/^HTTP\/1\.1 (\d{3}) /gm)].map((m) => Number(m[1]));
      resolve({ statuses, text });
    });
    socket.on('error', reject);
    setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within 5 s; got ${JSON.stringify(text.slice(0, 200))}`));
    }, 5_000).unref();
  });
}

const records = JSON.stringify({ records: [{ value: { hello: 'world' } }] });
const json = (body: string, extra: Record<string, string> = {}) => ({
  'content-type': 'application/json',
  'content-length': String(Buffer.byteLength(body)),
  ...extra,
});
const admin = { authorization: `Bearer ${ADMIN}` };

describe('Expect: 100-continue', () => {
  it('a body the server reads gets 100 Continue, then the answer', async () => {
    const r = await expectContinue(`/v1/topics/${topic}/records`, json(records, admin), records);
    expect(r.statuses).toEqual([100, 200]);
  });

  it('a declared body over SLUICE_MAX_BODY_BYTES is answered 413 without 100 Continue', async () => {
    const r = await expectContinue(
      `/v1/topics/${topic}/records`,
      { ...admin, 'content-type': 'application/json', 'content-length': String(4 * MAX) },
      'x'.repeat(4 * MAX),
    );
    expect(r.statuses).toEqual([413]);
    expect(r.text).toContain('payload_too_large');
  });

  it('a request without credentials is answered 401 without 100 Continue', async () => {
    const r = await expectContinue(`/v1/topics/${topic}/records`, json(records), records);
    expect(r.statuses).toEqual([401]);
  });

  it('a produce to a topic that does not exist is answered 404 without 100 Continue', async () => {
    const r = await expectContinue(`/v1/topics/no-such-${randomUUID()}/records`, json(records, admin), records);
    expect(r.statuses).toEqual([404]);
  });

  it('a streamed NDJSON produce gets 100 Continue and its records are appended', async () => {
    const body = '{"value":1}\n{"value":2}\n';
    const r = await expectContinue(
      `/v1/topics/${topic}/records`,
      { ...admin, 'content-type': 'application/x-ndjson', 'transfer-encoding': 'chunked' },
      `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`,
    );
    expect(r.statuses).toEqual([100, 200]);
    expect(r.text).toContain('"offsets"');
  });
});
