// Durable Streams creates and deletes cut short: a fork's copy or a create's body held, the
// server stopped under it and started again on the same data; a soft-deleted source left behind.
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { StreamsService } from '../src/durable-streams/streams-service.js';
import type { PartitionLog } from '../src/log/index.js';
import { CREATE_IN_FLIGHT_GRACE_MS } from '../src/topics/topics-service.js';
import { createTestEnv, startTestServer, type TestEnv, type TestServer } from './support/server.js';

const uid = () => randomUUID().slice(0, 8);
const json = { 'content-type': 'application/json' };

interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

async function call(server: TestServer, method: string, path: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(`${server.url}/v1/stream/${path}`, { method, ...init });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** The Sluice offset of a Stream-Next-Offset (`<16 digits>_<tag>`). */
const offsetOf = (a: Answer) => Number(a.headers.get('stream-next-offset')?.split('_')[0]);

/**
 * Holds the appends to topic `name`'s log after the first `pass` of them, for good (as a crash
 * would leave them) unless `release` is called; resolves `held` when the first one is held.
 */
function holdAppends(server: TestServer, name: string, pass: number): { held: Promise<void>; release: () => void } {
  const topics = server.services.topics;
  const partitionLog = topics.partitionLog.bind(topics);
  const patched = new WeakSet<PartitionLog>();
  let calls = 0;
  let reached!: () => void;
  const held = new Promise<void>((r) => (reached = r));
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  topics.partitionLog = (topic, partition) => {
    const found = partitionLog(topic, partition);
    if (found.ok && topic === name && !patched.has(found.value.log)) {
      const log = found.value.log;
      patched.add(log);
      const append = log.append.bind(log);
      log.append = (...args: Parameters<PartitionLog['append']>) => {
        if (++calls <= pass) return append(...args);
        reached();
        return released.then(() => append(...args));
      };
    }
    return found;
  };
  return { held, release };
}

describe('Durable Streams creates cut short by a crash', () => {
  let env: TestEnv | undefined;
  const servers: TestServer[] = [];
  const start = async (extra: Record<string, string> = {}) => {
    const s = await startTestServer(env!, { env: extra });
    servers.push(s);
    return s;
  };
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.stop().catch(() => {});
    await env?.cleanup();
    env = undefined;
  });

  it('a fork stopped mid-copy is gone after a restart, and the same PUT makes it whole (201)', async () => {
    env = await createTestEnv({ SLUICE_LOG_STORE: 'file' });
    const first = await start();
    const src = `src-${uid()}`;
    const fork = `fork-${uid()}`;
    expect((await call(first, 'PUT', src, { headers: json })).status).toBe(201);
    const messages = Array.from({ length: 2500 }, (_, i) => ({ i }));
    expect((await call(first, 'POST', src, { headers: json, body: JSON.stringify(messages) })).status).toBe(204);
    // The copy goes 1000 records at a time: the first batch lands, the second never does.
    const { held } = holdAppends(first, fork, 1);
    const forkHeaders = { ...json, 'stream-forked-from': `/v1/stream/${src}` };
    void call(first, 'PUT', fork, { headers: forkHeaders }).catch(() => {});
    await held;
    // Meanwhile the same PUT is not told the fork exists: it does not, yet.
    const meanwhile = await call(first, 'PUT', fork, { headers: forkHeaders });
    expect(meanwhile.status, meanwhile.text).toBe(503);
    expect((await call(first, 'HEAD', fork)).status).toBe(503);
    await first.stop();

    const second = await start();
    expect((await call(second, 'HEAD', fork)).status).toBe(404);
    const retry = await call(second, 'PUT', fork, { headers: forkHeaders });
    expect(retry.status, retry.text).toBe(201);
    expect(offsetOf(retry)).toBe(2500);
    const read = await call(second, 'GET', `${fork}?offset=-1`);
    expect(JSON.parse(read.text)).toEqual(messages);
  }, 60_000);

  it('a slow create (not a dead one): a PUT and a read sent meanwhile wait for it, then answer as for the stream made', async () => {
    env = await createTestEnv({ SLUICE_LOG_STORE: 'file' });
    const first = await start();
    const path = `slow-${uid()}`;
    const body = JSON.stringify([{ a: 1 }, { b: 2 }]);
    const { held, release } = holdAppends(first, path, 0);
    const creating = call(first, 'PUT', path, { headers: json, body });
    await held;
    const again = call(first, 'PUT', path, { headers: json, body });
    const differs = call(first, 'PUT', path, { headers: { 'content-type': 'text/plain' } });
    const read = call(first, 'GET', `${path}?offset=-1`);
    // A topic produce to the stream's topic (named as its path) lands after the create's body.
    const produce = fetch(`${first.url}/v1/topics/${path}/records`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ records: [{ value: { c: 3 } }] }),
    }).then(async (res) => ({ status: res.status, text: await res.text() }));
    await new Promise((r) => setTimeout(r, 300));
    release();
    expect((await creating).status).toBe(201);
    const [a, d, r, p] = await Promise.all([again, differs, read, produce]);
    expect(a.status, a.text).toBe(200);
    expect(d.status, d.text).toBe(409);
    expect(r.status, r.text).toBe(200);
    expect((JSON.parse(r.text) as unknown[]).slice(0, 2)).toEqual([{ a: 1 }, { b: 2 }]);
    expect(p.status, p.text).toBe(200);
    expect(JSON.parse((await call(first, 'GET', `${path}?offset=-1`)).text)).toEqual([{ a: 1 }, { b: 2 }, { c: 3 }]);
  }, 60_000);

  for (const closed of [false, true]) {
    it(`a create with a body${closed ? ' and Stream-Closed' : ''} stopped mid-append is gone after a restart, and the same PUT makes it (201)`, async () => {
      env = await createTestEnv({ SLUICE_LOG_STORE: 'file' });
      const first = await start();
      const path = `body-${uid()}`;
      const headers = { ...json, ...(closed && { 'stream-closed': 'true' }) };
      const body = JSON.stringify([{ a: 1 }, { b: 2 }, { c: 3 }]);
      const { held } = holdAppends(first, path, 0);
      void call(first, 'PUT', path, { headers, body }).catch(() => {});
      await held;
      expect((await call(first, 'PUT', path, { headers, body })).status).toBe(503);
      await first.stop();

      const second = await start();
      expect((await call(second, 'HEAD', path)).status).toBe(404);
      const retry = await call(second, 'PUT', path, { headers, body });
      expect(retry.status, retry.text).toBe(201);
      const head = await call(second, 'HEAD', path);
      expect(offsetOf(head)).toBe(3);
      expect(head.headers.get('stream-closed')).toBe(closed ? 'true' : null);
      expect(JSON.parse((await call(second, 'GET', `${path}?offset=-1`)).text)).toEqual([{ a: 1 }, { b: 2 }, { c: 3 }]);
      // Retried once more: the stream it made, confirmed.
      expect((await call(second, 'PUT', path, { headers, body })).status).toBe(200);
    }, 60_000);
  }
});

describe('a pending create seen by another node sharing the log', () => {
  let env: TestEnv | undefined;
  let server: TestServer | undefined;
  let other: StreamsService | undefined;
  afterEach(async () => {
    other?.close();
    await server?.stop();
    await env?.cleanup();
  });

  it('is left to the node running it (503) until its pending_at is older than the grace, then rolled back', async () => {
    env = await createTestEnv({ SLUICE_LOG_STORE: 'file' });
    server = await startTestServer(env);
    const path = `shared-${uid()}`;
    const { held } = holdAppends(server, path, 0);
    void call(server, 'PUT', path, { headers: json, body: '[1,2,3]' }).catch(() => {});
    await held;
    // A second node on the same database: a service with a cross-node lock (never taken here)
    // and a clock of its own.
    let now = Date.now();
    other = new StreamsService({
      db: server.services.db,
      topics: server.services.topics,
      logger: server.services.logger,
      idempotencyWindowMs: 60_000,
      maxJsonDepth: 128,
      maxReadBytes: 1024 * 1024,
      sweepIntervalMs: 0,
      clock: () => now,
      lock: { run: () => Promise.reject(new Error('not taken in this test')), close: async () => {} },
    });
    const head = await other.head(path);
    expect(head.ok ? 'ok' : head.error.code).toBe('unavailable');
    await other.sweep();
    expect(server.services.topics.lookup(path)).toBeDefined();
    now += CREATE_IN_FLIGHT_GRACE_MS;
    await other.sweep();
    expect(server.services.topics.lookup(path)).toBeUndefined();
    const again = await other.head(path);
    expect(again.ok ? 'ok' : again.error.code).toBe('not_found');
  }, 60_000);
});

describe('a soft-deleted source whose last fork went while its collection failed', () => {
  let env: TestEnv | undefined;
  const servers: TestServer[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.stop().catch(() => {});
    await env?.cleanup();
    env = undefined;
  });

  /** A source with one fork, the source deleted (soft), then the fork deleted while deleting the source fails. */
  async function orphanedSource(server: TestServer): Promise<string> {
    const src = `src-${uid()}`;
    const fork = `fork-${uid()}`;
    expect((await call(server, 'PUT', src, { headers: json, body: '[1,2,3]' })).status).toBe(201);
    const forkHeaders = { ...json, 'stream-forked-from': `/v1/stream/${src}` };
    expect((await call(server, 'PUT', fork, { headers: forkHeaders })).status).toBe(201);
    expect((await call(server, 'DELETE', src)).status).toBe(204);
    expect((await call(server, 'GET', `${src}?offset=-1`)).status).toBe(410);
    // The one attempt to collect the source fails (as if the process died before it, or the
    // database was down for it).
    const topics = server.services.topics;
    const remove = topics.delete.bind(topics);
    let refused!: () => void;
    const tried = new Promise<void>((r) => (refused = r));
    topics.delete = async (name, logger) => {
      if (name === src) {
        topics.delete = remove;
        refused();
        throw new Error('the database is unavailable');
      }
      return remove(name, logger);
    };
    expect((await call(server, 'DELETE', fork)).status).toBe(204);
    await tried;
    expect((await call(server, 'GET', `${src}?offset=-1`)).status).toBe(410);
    return src;
  }

  it('is removed by the stream sweep', async () => {
    env = await createTestEnv({ SLUICE_LOG_STORE: 'file', SLUICE_STREAM_SWEEP_MS: '200' });
    const server = await startTestServer(env);
    servers.push(server);
    const src = await orphanedSource(server);
    const deadline = Date.now() + 10_000;
    let status = 410;
    while (status === 410 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      status = (await call(server, 'GET', `${src}?offset=-1`)).status;
    }
    expect(status).toBe(404);
    expect((await call(server, 'PUT', src, { headers: json })).status).toBe(201);
  }, 60_000);

  it('is removed at the next start', async () => {
    env = await createTestEnv({ SLUICE_LOG_STORE: 'file', SLUICE_STREAM_SWEEP_MS: '3600000' });
    const first = await startTestServer(env);
    servers.push(first);
    const src = await orphanedSource(first);
    await first.stop();
    const second = await startTestServer(env);
    servers.push(second);
    expect((await call(second, 'GET', `${src}?offset=-1`)).status).toBe(404);
    expect((await call(second, 'PUT', src, { headers: json })).status).toBe(201);
  }, 60_000);
});
