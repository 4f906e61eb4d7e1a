// Durable Streams at the seams with the rest of Sluice: delete/re-create under live readers,
// retention under an offset, retried appends across a restart, permissions, hostile input.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, createKey, mintToken } from './auth-support.js';
import { durableStreams as durableStreamsTable } from '../src/metadata/schema/durable-streams.js';
import { createTestEnv, startIsolatedServer, startTestServer, type TestServer } from './support/server.js';

const uid = () => randomUUID().slice(0, 8);

interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

async function call(base: string, method: string, path: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(`${base}${path}`, { method, ...init });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

describe('Durable Streams seams', () => {
  let server: TestServer;
  const ADMIN = `adm_${randomUUID()}${randomUUID()}`;
  const admin = bearer(ADMIN);
  const ds = (method: string, path: string, init: RequestInit = {}) =>
    call(server.url, method, `/v1/stream/${path}`, { ...init, headers: { ...admin, ...init.headers } });

  beforeAll(async () => {
    server = await startIsolatedServer({
      SLUICE_AUTH: 'keys',
      SLUICE_ADMIN_KEY: ADMIN,
      SLUICE_STREAM_LONG_POLL_MS: '10000',
      SLUICE_MAX_BODY_BYTES: '65536',
      SLUICE_MAX_BUFFERED_BODY_BYTES: '65536',
    });
  });
  afterAll(async () => {
    await server?.stop();
  });
  /** A call to the topic API as the admin, with a JSON body. */
  const topicApi = (method: string, path: string, body: unknown) =>
    call(server.url, method, path, {
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('adopts an empty one-partition topic only if its value_format is the stream content type’s', async () => {
    // Else a json topic would hold non-JSON records (or a string topic non-UTF-8 bytes), which
    // topic produce refuses, and its readers would get base64 fallbacks.
    const topics = (body: unknown) => topicApi('POST', '/v1/topics', body);
    const json = `adopt-json-${uid()}`;
    expect((await topics({ name: json, config: { value_format: 'json' } })).status).toBe(201);
    const binary = { 'content-type': 'application/octet-stream' };
    const refused = await ds('PUT', json, { headers: binary, body: 'not json' });
    expect(refused.status, refused.text).toBe(409);
    expect(refused.text).toContain('value_format');
    expect((await ds('POST', json, { headers: binary, body: 'not json' })).status).toBe(404);
    const read = await call(server.url, 'GET', `/v1/topics/${json}/partitions/0/records?offset=0`, { headers: admin });
    expect(JSON.parse(read.text)).toMatchObject({ records: [], end_offset: 0 });
    // The content type that topic would have been created with adopts it, as before.
    expect((await ds('PUT', json, { headers: { 'content-type': 'application/json' } })).status).toBe(201);
    const text = `adopt-string-${uid()}`;
    expect((await topics({ name: text, config: { value_format: 'string' } })).status).toBe(201);
    expect((await ds('PUT', text, { headers: binary })).status).toBe(409);
    expect((await ds('PUT', text, { headers: { 'content-type': 'text/plain' } })).status).toBe(201);
  });

  it('Stream-TTL, Stream-Expires-At, Stream-Fork-Offset: spaces and tabs around a value are dropped, a no-break space is 400', async () => {
    const nbsp = '\u00a0';
    const text = { 'content-type': 'text/plain' };
    const source = `seams/ws-${uid()}`;
    expect((await ds('PUT', source, { headers: text, body: 'abc' })).status).toBe(201);
    const tail = (await ds('HEAD', source)).headers.get('stream-next-offset')!;
    const accepted: Array<[string, Record<string, string>]> = [
      ['Stream-TTL', { 'stream-ttl': ' \t60\t ' }],
      ['Stream-Expires-At', { 'stream-expires-at': '\t2030-01-01T00:00:00Z ' }],
      ['Stream-Fork-Offset', { 'stream-forked-from': source, 'stream-fork-offset': ` ${tail}\t` }],
    ];
    for (const [what, headers] of accepted) {
      const a = await ds('PUT', `ws-${uid()}`, { headers: { ...text, ...headers } });
      expect(a.status, `${what}: ${a.text.slice(0, 200)}`).toBe(201);
    }
    const refused: Array<[string, Record<string, string>]> = [
      ['Stream-TTL', { 'stream-ttl': `60${nbsp}` }],
      ['Stream-Expires-At', { 'stream-expires-at': `${nbsp}2030-01-01T00:00:00Z` }],
      ['Stream-Fork-Offset', { 'stream-forked-from': source, 'stream-fork-offset': `${tail}${nbsp}` }],
    ];
    for (const [what, headers] of refused) {
      const path = `ws-${uid()}`;
      const a = await ds('PUT', path, { headers: { ...text, ...headers } });
      expect(a.status, `${what}: ${a.text.slice(0, 200)}`).toBe(400);
      expect((await ds('HEAD', path)).status, what).toBe(404);
    }
    // Stream-Closed counts only when exactly `true`: with a no-break space it is another value,
    // ignored as any other is, and the stream stays open.
    expect((await ds('POST', source, { headers: { ...text, 'stream-closed': ` true\t` }, body: 'd' })).status).toBe(
      204,
    );
    const open = `seams/ws-open-${uid()}`;
    expect((await ds('PUT', open, { headers: { ...text, 'stream-closed': `true${nbsp}` } })).status).toBe(201);
    expect((await ds('HEAD', open)).headers.get('stream-closed')).toBeNull();
    expect((await ds('HEAD', source)).headers.get('stream-closed')).toBe('true');
  });

  it('Stream-Forked-From takes printable ASCII only: a no-break space or UTF-8 bytes are 400, not another stream', async () => {
    // Header bytes arrive as Latin-1: the UTF-8 bytes of `é` would name the stream `Ã©`, and
    // trim() dropped a no-break space. A path with other characters is given percent-encoded.
    const nbsp = '\u00a0';
    const text = { 'content-type': 'text/plain' };
    const id = uid();
    const ascii = `seams/fork-${id}`;
    const source = `seams/fork-é-${id}`;
    const decoy = Buffer.from(source, 'utf8').toString('latin1');
    expect((await ds('PUT', ascii, { headers: text, body: 'ascii' })).status).toBe(201);
    expect((await ds('PUT', source, { headers: text, body: 'real' })).status).toBe(201);
    expect((await ds('PUT', decoy, { headers: text, body: 'decoy' })).status).toBe(201);
    for (const from of [`${ascii}${nbsp}`, `${nbsp}/v1/stream/${ascii}`, decoy, `/v1/stream/${decoy}`]) {
      const fork = `seams/f-${uid()}`;
      const a = await ds('PUT', fork, { headers: { 'stream-forked-from': from } });
      expect(a.status, `${JSON.stringify(from)}: ${a.text.slice(0, 200)}`).toBe(400);
      expect(a.text).toContain('Stream-Forked-From');
      expect((await ds('HEAD', fork)).status).toBe(404);
    }
    const fork = `seams/f-${uid()}`;
    const encoded = `/v1/stream/${encodeURIComponent(source)}`;
    expect((await ds('PUT', fork, { headers: { 'stream-forked-from': encoded } })).status).toBe(201);
    expect((await ds('GET', fork)).text).toBe('real');
  });

  it('appends follow a change to the stream topic’s config: durability and max_record_bytes as PATCHed, not as loaded', async () => {
    const name = `patched-${uid()}`;
    const made = await topicApi('POST', '/v1/topics', {
      name,
      config: { value_format: 'json', durability: 'write', max_record_bytes: 1024 },
    });
    expect(made.status, made.text).toBe(201);
    const json = { 'content-type': 'application/json' };
    expect((await ds('PUT', name, { headers: json })).status).toBe(201);
    const big = JSON.stringify(['x'.repeat(2000)]);
    expect((await ds('POST', name, { headers: json, body: big })).status).toBe(413);
    const topic = server.services.topics.lookup(name)!;
    const log = server.services.log.getPartition(topic.id, 0)!;
    const durabilities: string[] = [];
    const append = log.append.bind(log);
    log.append = (records, options) => {
      durabilities.push(options.durability);
      return append(records, options);
    };
    expect((await ds('POST', name, { headers: json, body: '["a"]' })).status).toBe(204);
    const patched = await topicApi('PATCH', `/v1/topics/${name}`, {
      config: { durability: 'fsync', max_record_bytes: 4096 },
    });
    expect(patched.status, patched.text).toBe(200);
    const grown = await ds('POST', name, { headers: json, body: big });
    expect(grown.status, grown.text).toBe(204);
    expect(durabilities).toEqual(['write', 'fsync']);
  });

  it('a text stream keeps whole characters: a long append is split between characters, and bytes that are not UTF-8 are refused (400)', async () => {
    const name = `text-split-${uid()}`;
    const made = await topicApi('POST', '/v1/topics', {
      name,
      config: { value_format: 'string', max_record_bytes: 1024 },
    });
    expect(made.status, made.text).toBe(201);
    const text = { 'content-type': 'text/plain; charset=utf-8' };
    expect((await ds('PUT', name, { headers: text })).status).toBe(201);
    // "é" (2 bytes) straddles the 1024-byte cut; "€" (3 bytes) the next one.
    const body = `${'a'.repeat(1023)}é${'b'.repeat(1020)}€z`;
    expect((await ds('POST', name, { headers: text, body })).status).toBe(204);
    const refused = await ds('POST', name, { headers: text, body: new Uint8Array([0xff, 0xfe, 0x41]) });
    expect(refused.status, refused.text).toBe(400);
    expect(refused.text).toContain('UTF-8');
    expect((await ds('GET', `${name}?offset=-1`)).text).toBe(body);
    const read = await call(server.url, 'GET', `/v1/topics/${name}/partitions/0/records?offset=0`, { headers: admin });
    const records = (JSON.parse(read.text) as { records: Array<{ value: string; value_encoding?: string }> }).records;
    expect(records.length).toBeGreaterThan(1);
    for (const r of records) {
      expect(r.value_encoding).toBeUndefined();
      expect(r.value).not.toContain('\uFFFD');
      expect(Buffer.byteLength(r.value)).toBeLessThanOrEqual(1024);
    }
    expect(records.map((r) => r.value).join('')).toBe(body);
    // A character longer than max_record_bytes fits in no record: 413, never half of it.
    const tiny = `text-tiny-${uid()}`;
    const small = await topicApi('POST', '/v1/topics', {
      name: tiny,
      config: { value_format: 'string', max_record_bytes: 2 },
    });
    expect(small.status, small.text).toBe(201);
    expect((await ds('PUT', tiny, { headers: text })).status).toBe(201);
    expect((await ds('POST', tiny, { headers: text, body: 'ab€' })).status).toBe(413);
    expect((await ds('POST', tiny, { headers: text, body: 'abcé' })).status).toBe(204);
    expect((await ds('GET', `${tiny}?offset=-1`)).text).toBe('abcé');
  });

  it('a stream’s topic keeps its one partition: growing it is 409 (stream readers and appends use partition 0)', async () => {
    const path = `seams/grow-${uid()}`;
    const topic = path.replace('/', '__');
    expect((await ds('PUT', path, { headers: { 'content-type': 'text/plain' }, body: 'a' })).status).toBe(201);
    const patch = (body: unknown) => topicApi('PATCH', `/v1/topics/${topic}`, body);
    const grown = await patch({ partitions: 2 });
    expect(grown.status, grown.text).toBe(409);
    expect(grown.text).toContain('Durable Stream');
    const described = await call(server.url, 'GET', `/v1/topics/${topic}`, { headers: admin });
    expect(JSON.parse(described.text)).toMatchObject({ partition_count: 1 });
    // Other changes stay allowed, and so does naming the count it has.
    expect((await patch({ partitions: 1, config: { retention_ms: 3_600_000 } })).status).toBe(200);
    // A plain topic still grows.
    const plain = `grow-plain-${uid()}`;
    const made = await topicApi('POST', '/v1/topics', { name: plain });
    expect(made.status).toBe(201);
    const plainGrown = await topicApi('PATCH', `/v1/topics/${plain}`, { partitions: 2 });
    expect(plainGrown.status).toBe(200);
  });

  it('concurrent identical creates with a body (found by the API fuzzer): one 201, the rest 200, never a 503; a read meanwhile waits for the create', async () => {
    for (let round = 0; round < 5; round++) {
      const path = `seams/concurrent-${uid()}`;
      const put = () => ds('PUT', path, { headers: { 'content-type': 'text/plain' }, body: 'first' });
      const [answers, read] = await Promise.all([
        Promise.all(Array.from({ length: 6 }, put)),
        // Sent a moment after the first PUT: the stream is being created or is there.
        new Promise<void>((r) => setImmediate(r)).then(() => ds('GET', `${path}?offset=-1`)),
      ]);
      const statuses = answers.map((a) => a.status).sort();
      expect(statuses, answers.map((a) => a.text).join('\n')).toEqual([200, 200, 200, 200, 200, 201]);
      expect([200, 404], read.text).toContain(read.status);
      if (read.status === 200) expect(read.text).toBe('first');
      expect((await ds('GET', `${path}?offset=-1`)).text).toBe('first');
    }
  });

  it('a stream deleted and re-created: a held offset is 410, a long-poll answers 404, an SSE stream ends', async () => {
    const path = `seams/recreate-${uid()}`;
    const text = { 'content-type': 'text/plain' };
    expect((await ds('PUT', path, { headers: text, body: 'old' })).status).toBe(201);
    const tail = (await ds('HEAD', path)).headers.get('stream-next-offset')!;

    const longPoll = ds('GET', `${path}?offset=${tail}&live=long-poll`);
    const sse = await fetch(`${server.url}/v1/stream/${path}?offset=${tail}&live=sse`, { headers: admin });
    const reader = sse.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value); // the up-to-date control event
    expect(first).toContain('event: control');

    expect((await ds('DELETE', path)).status).toBe(204);
    expect((await longPoll).status).toBe(404);
    // The SSE stream ends without an event from whatever comes next at the path.
    let rest = '';
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      rest += new TextDecoder().decode(r.value);
    }
    expect(rest).not.toContain('event: data');

    expect((await ds('PUT', path, { headers: text, body: 'new' })).status).toBe(201);
    const stale = await ds('GET', `${path}?offset=${tail}`);
    expect(stale.status).toBe(410);
    expect(stale.text).toContain('"code":"gone"');
    expect(stale.headers.get('x-content-type-options')).toBe('nosniff');
    // The same position of the new stream has its own token, which reads fine.
    const fresh = await ds('GET', `${path}?offset=-1`);
    expect(fresh.text).toBe('new');
    expect(fresh.headers.get('stream-next-offset')).not.toBe(tail);
  });

  it('a fork deleted and made again at its path: the old fork’s offsets are 410 and its ETags miss; the source’s offsets hold up to the fork point', async () => {
    const json = { 'content-type': 'application/json' };
    const source = `fork-src-${uid()}`;
    const fork = `fork-again-${uid()}`;
    expect((await ds('PUT', source, { headers: json, body: '[1,2,3,4]' })).status).toBe(201);
    const sourceTail = (await ds('HEAD', source)).headers.get('stream-next-offset')!;
    const sourceAt = (n: number) => `${String(n).padStart(16, '0')}${sourceTail.slice(16)}`;
    const from = { ...json, 'stream-forked-from': `/v1/stream/${source}` };
    expect((await ds('PUT', fork, { headers: from })).status).toBe(201);
    expect((await ds('POST', fork, { headers: json, body: '["old-a","old-b"]' })).status).toBe(204);
    const old = await ds('GET', `${fork}?offset=-1`);
    expect(JSON.parse(old.text)).toEqual([1, 2, 3, 4, 'old-a', 'old-b']);
    const oldTag = old.headers.get('etag')!;
    const oldNext = old.headers.get('stream-next-offset')!;
    const oldMiddle = `${String(5).padStart(16, '0')}${oldNext.slice(16)}`;

    expect((await ds('DELETE', fork)).status).toBe(204);
    const again = { ...from, 'stream-fork-offset': sourceAt(2) };
    expect((await ds('PUT', fork, { headers: again })).status).toBe(201);
    expect((await ds('POST', fork, { headers: json, body: '["NEW-1","NEW-2","NEW-3","NEW-4"]' })).status).toBe(204);
    const fresh = await ds('GET', `${fork}?offset=-1`, { headers: { 'if-none-match': oldTag } });
    expect(fresh.status).toBe(200);
    expect(JSON.parse(fresh.text)).toEqual([1, 2, 'NEW-1', 'NEW-2', 'NEW-3', 'NEW-4']);
    expect(fresh.headers.get('etag')).not.toBe(oldTag);
    for (const stale of [oldNext, oldMiddle]) {
      const read = await ds('GET', `${fork}?offset=${stale}`);
      expect(read.status, `${stale}: ${read.text}`).toBe(410);
    }
    // The source's offsets name the same records in the fork up to the fork point, no further.
    const inherited = await ds('GET', `${fork}?offset=${sourceAt(1)}`);
    expect(inherited.status).toBe(200);
    expect(JSON.parse(inherited.text)).toEqual([2, 'NEW-1', 'NEW-2', 'NEW-3', 'NEW-4']);
    expect((await ds('GET', `${fork}?offset=${sourceAt(2)}`)).status).toBe(200);
    expect((await ds('GET', `${fork}?offset=${sourceAt(3)}`)).status).toBe(410);
    // The fork's own offsets go on working.
    const next = fresh.headers.get('stream-next-offset')!;
    expect((await ds('POST', fork, { headers: json, body: '["NEW-5"]' })).status).toBe(204);
    expect(JSON.parse((await ds('GET', `${fork}?offset=${next}`)).text)).toEqual(['NEW-5']);
  });

  it('an offset whose records retention removed answers 410; reading from -1 starts at what is left', async () => {
    const path = `seams/retention-${uid()}`;
    const topic = path.replace('/', '__');
    expect((await ds('PUT', path, { headers: { 'content-type': 'text/plain' } })).status).toBe(201);
    const start = (await ds('HEAD', path)).headers.get('stream-next-offset')!;
    const patch = await topicApi('PATCH', `/v1/topics/${topic}`, {
      config: { segment_bytes: 1024, retention_bytes: 1024 },
    });
    expect(patch.status).toBe(200);
    const chunk = 'x'.repeat(600);
    for (let i = 0; i < 8; i++)
      expect((await ds('POST', path, { headers: { 'content-type': 'text/plain' }, body: chunk })).status).toBe(204);
    await server.services.log.enforceRetention();
    const gone = await ds('GET', `${path}?offset=${start}`);
    expect(gone.status).toBe(410);
    const rest = await ds('GET', `${path}?offset=-1`);
    expect(rest.status).toBe(200);
    expect(rest.text.length).toBeGreaterThan(0);
    expect(rest.text.length).toBeLessThan(8 * 600);
  });

  it('forking needs topic:read on the source stream (the fork copies its records)', async () => {
    // A key that may create and read its own streams must not copy out a stream it may not read.
    const secret = `seams/secret-${uid()}`;
    expect((await ds('PUT', secret, { headers: { 'content-type': 'text/plain' }, body: 'secret' })).status).toBe(201);
    const mine = `mine-${uid()}`;
    const owner = await createKey(
      server.url,
      [{ resource: 'topic', name: `${mine}__`, pattern: 'prefixed', actions: ['create', 'read'] }],
      { as: ADMIN, name: `owner-${uid()}` },
    );
    const as = (path: string, method: string, headers: Record<string, string> = {}) =>
      call(server.url, method, `/v1/stream/${path}`, { headers: { ...bearer(owner.key), ...headers } });
    for (const from of [secret, `/v1/stream/${secret}`, `/v1/stream/${encodeURIComponent(secret)}`]) {
      const copy = `${mine}/copy-${uid()}`;
      const refused = await as(copy, 'PUT', { 'stream-forked-from': from });
      expect(refused.status, `${from}: ${refused.text}`).toBe(403);
      expect(refused.text).toContain('topic:read');
      expect((await ds('HEAD', copy)).status).toBe(404);
    }
    // Its own stream it may fork, and read the copy.
    const own = `${mine}/own`;
    expect((await as(own, 'PUT', { 'content-type': 'text/plain' })).status).toBe(201);
    expect((await ds('POST', own, { headers: { 'content-type': 'text/plain' }, body: 'mine' })).status).toBe(204);
    const fork = `${mine}/fork`;
    expect((await as(fork, 'PUT', { 'stream-forked-from': own })).status).toBe(201);
    expect((await as(fork, 'GET')).text).toBe('mine');
  });

  it('refuses a caller without the permission, and lets a read-only token read through ?access_token=', async () => {
    const path = `perm-${uid()}/s`;
    const topic = path.replace('/', '__');
    expect((await ds('PUT', path, { headers: { 'content-type': 'text/plain' }, body: 'secret' })).status).toBe(201);
    const reader = await createKey(server.url, [{ resource: 'topic', name: topic, actions: ['read'] }], {
      as: ADMIN,
      name: `reader-${uid()}`,
    });
    const as = (key: string, method: string, init: RequestInit = {}) =>
      call(server.url, method, `/v1/stream/${path}`, { ...init, headers: { ...bearer(key), ...init.headers } });
    expect((await as(reader.key, 'GET')).text).toBe('secret');
    const append = await as(reader.key, 'POST', { headers: { 'content-type': 'text/plain' }, body: 'more' });
    expect(append.status).toBe(403);
    expect(append.text).toContain('topic:write');
    expect((await as(reader.key, 'DELETE')).status).toBe(403);
    expect((await call(server.url, 'GET', `/v1/stream/${path}`)).status).toBe(401);
    const other = await createKey(server.url, [{ resource: 'topic', name: 'elsewhere', actions: ['read'] }], {
      as: ADMIN,
      name: `other-${uid()}`,
    });
    expect((await as(other.key, 'GET')).status).toBe(403);
    const token = await mintToken(server.url, ADMIN, [{ resource: 'topic', name: topic, actions: ['read'] }], 60_000);
    const viaQuery = await call(server.url, 'GET', `/v1/stream/${path}?offset=-1&access_token=${token.token}`);
    expect(viaQuery.status).toBe(200);
    expect(viaQuery.text).toBe('secret');
  });

  it('a raw "#" in the request target is refused (403 for a limited key, 400 for the admin), never checked as the path before it and served as the whole', async () => {
    // A fragment is never part of a request target (RFC 9112 §3.2). `fetch` drops it, so this
    // sends the bytes as a hostile client would.
    const own = `hash-${uid()}`;
    const secret = `${own}#secret`;
    const text = { 'content-type': 'text/plain' };
    expect((await ds('PUT', own, { headers: text })).status).toBe(201);
    expect((await ds('PUT', encodeURIComponent(secret), { headers: text, body: 'secret' })).status).toBe(201);
    const key = await createKey(server.url, [{ resource: 'topic', name: own, actions: ['read', 'write', 'delete'] }], {
      as: ADMIN,
      name: `hash-${uid()}`,
    });
    const raw = (method: string, target: string, body?: string, as = key.key) =>
      new Promise<{ status: number; text: string }>((resolve, reject) => {
        const u = new URL(server.url);
        const req = http.request(
          { host: u.hostname, port: u.port, method, path: target, headers: { ...bearer(as), ...text } },
          (res) => {
            let out = '';
            res.setEncoding('utf8');
            res.on('data', (d: string) => (out += d));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, text: out }));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    for (const [method, target, body] of [
      ['GET', `/v1/stream/${secret}?offset=-1`],
      ['POST', `/v1/stream/${secret}`, 'injected'],
      ['PUT', `/v1/stream/${own}#other`],
      ['DELETE', `/v1/stream/${secret}`],
    ] as const) {
      // This key: checked against no stream it holds (a path that names none matches only an
      // unrestricted grant). The admin: told why.
      const answer = await raw(method, target, body);
      expect(answer.status, `${method} ${target}: ${answer.text}`).toBe(403);
      const admin = await raw(method, target, body, ADMIN);
      expect(admin.status, `${method} ${target} (admin): ${admin.text}`).toBe(400);
      expect(admin.text).toContain('%23');
    }
    // Percent-encoded, it names the other stream: refused for this key, as before.
    expect((await raw('GET', `/v1/stream/${encodeURIComponent(secret)}?offset=-1`)).status).toBe(403);
    expect((await ds('GET', `${encodeURIComponent(secret)}?offset=-1`)).text).toBe('secret');
    expect((await ds('HEAD', `${encodeURIComponent(own)}%23other`)).status).toBe(404);
  });

  it('answers hostile input with a clear 4xx, never a 500 or a hang', async () => {
    const path = `hostile-${uid()}`;
    expect((await ds('PUT', path, { headers: { 'content-type': 'application/json' } })).status).toBe(201);
    const tail = (await ds('HEAD', path)).headers.get('stream-next-offset')!;
    const beyondTail = `0000000000000099${tail.slice(16)}`;
    const cases: Array<[string, Promise<Answer>, number]> = [
      ['path too long', ds('PUT', 'a'.repeat(2000)), 400],
      ['escaped path over 249', ds('PUT', '%C3%A9'.repeat(60)), 400],
      ['bad percent-encoding', ds('PUT', 'a%ZZ'), 400],
      ['NUL in path', ds('PUT', 'a%00b'), 400],
      ['empty segment', ds('PUT', 'a//b'), 400],
      ['bad content type', ds('PUT', `x-${uid()}`, { headers: { 'content-type': 'not a type' } }), 400],
      ['malformed offset', ds('GET', `${path}?offset=12abc`), 400],
      ['offset with a comma', ds('GET', `${path}?offset=1,2`), 400],
      ['offset of another stream', ds('GET', `${path}?offset=0000000000000099_${'A'.repeat(6)}`), 410],
      ['offset beyond the tail', ds('GET', `${path}?offset=${beyondTail}`), 400],
      ['bad live mode', ds('GET', `${path}?offset=-1&live=forever`), 400],
      ['invalid JSON', ds('POST', path, { headers: { 'content-type': 'application/json' }, body: '{nope' }), 400],
      [
        'deep JSON',
        ds('POST', path, { headers: { 'content-type': 'application/json' }, body: '['.repeat(10_000) }),
        400,
      ],
      ['empty JSON array', ds('POST', path, { headers: { 'content-type': 'application/json' }, body: '[]' }), 400],
      ['wrong content type', ds('POST', path, { headers: { 'content-type': 'text/plain' }, body: 'x' }), 409],
      [
        'oversized body',
        ds('POST', path, { headers: { 'content-type': 'application/json' }, body: `"${'x'.repeat(70_000)}"` }),
        413,
      ],
      [
        'TTL and Expires-At',
        ds('PUT', `t-${uid()}`, { headers: { 'stream-ttl': '5', 'stream-expires-at': '2030-01-01T00:00:00Z' } }),
        400,
      ],
      [
        'producer headers half given',
        ds('POST', path, { headers: { 'content-type': 'application/json', 'producer-id': 'p' }, body: '1' }),
        400,
      ],
      [
        'fork of an unknown stream',
        ds('PUT', `f-${uid()}`, { headers: { 'stream-forked-from': `/v1/stream/none-${uid()}` } }),
        404,
      ],
      [
        'fork offset beyond the source tail',
        ds('PUT', `f-${uid()}`, { headers: { 'stream-forked-from': path, 'stream-fork-offset': beyondTail } }),
        400,
      ],
      ['unknown stream', ds('GET', `none-${uid()}`), 404],
    ];
    for (const [what, answer, status] of cases) {
      const a = await answer;
      expect(a.status, `${what}: ${a.text.slice(0, 200)}`).toBe(status);
      expect(a.text, what).toContain('"error"');
    }
  });
});

describe('Durable Streams adopting an existing topic', () => {
  it('needs topic:delete on it: a stream’s expiry deletes its topic', async () => {
    // topic:create alone must not be a way to delete someone's empty topic (and its queues):
    // adopt it as a stream that has already expired, and let the sweeper delete it.
    const ADMIN = `adm_${randomUUID()}${randomUUID()}`;
    const server = await startIsolatedServer({
      SLUICE_AUTH: 'keys',
      SLUICE_ADMIN_KEY: ADMIN,
      SLUICE_STREAM_SWEEP_MS: '100',
    });
    try {
      const admin = bearer(ADMIN);
      const name = `adopted-${uid()}`;
      const created = await call(server.url, 'POST', '/v1/topics', {
        headers: { ...admin, 'content-type': 'application/json' },
        body: JSON.stringify({ name, config: { value_format: 'json' } }),
      });
      expect(created.status).toBe(201);
      const creator = await createKey(server.url, [{ resource: 'topic', name, actions: ['create'] }], {
        as: ADMIN,
        name: `creator-${uid()}`,
      });
      const put = (key: string, headers: Record<string, string>) =>
        call(server.url, 'PUT', `/v1/stream/${name}`, {
          headers: { ...bearer(key), 'content-type': 'application/json', ...headers },
        });
      const expiries: Array<Record<string, string>> = [
        { 'stream-ttl': '0' },
        { 'stream-expires-at': '2020-01-01T00:00:00Z' },
        {},
      ];
      for (const expiry of expiries) {
        const refused = await put(creator.key, expiry);
        expect(refused.status, `${JSON.stringify(expiry)}: ${refused.text}`).toBe(403);
        expect(refused.text).toContain('topic:delete');
      }
      await new Promise((r) => setTimeout(r, 500)); // several sweeps
      expect((await call(server.url, 'GET', `/v1/topics/${name}`, { headers: admin })).status).toBe(200);
      // With topic:delete too, it is adopted as before.
      const owner = await createKey(server.url, [{ resource: 'topic', name, actions: ['create', 'delete'] }], {
        as: ADMIN,
        name: `owner-${uid()}`,
      });
      expect((await put(owner.key, {})).status).toBe(201);
      // A stream it creates anew needs no more than topic:create.
      const fresh = `fresh-${uid()}`;
      const mine = await createKey(server.url, [{ resource: 'topic', name: fresh, actions: ['create'] }], {
        as: ADMIN,
        name: `fresh-${uid()}`,
      });
      const made = await call(server.url, 'PUT', `/v1/stream/${fresh}`, {
        headers: { ...bearer(mine.key), 'content-type': 'application/json', 'stream-ttl': '60' },
      });
      expect(made.status).toBe(201);
      // ...and confirming it needs no more either.
      const again = await call(server.url, 'PUT', `/v1/stream/${fresh}`, {
        headers: { ...bearer(mine.key), 'content-type': 'application/json', 'stream-ttl': '60' },
      });
      expect(again.status).toBe(200);
    } finally {
      await server.stop();
    }
  });
});

describe('Durable Streams across a restart', () => {
  it('a retried append whose answer was lost is not appended twice, also after a restart', async () => {
    const env = await createTestEnv({ SLUICE_AUTH: 'none' });
    let server = await startTestServer(env);
    try {
      const path = `retry-${uid()}`;
      const url = `${server.url}/v1/stream/${path}`;
      const producer = (seq: number) => ({
        'content-type': 'text/plain',
        'producer-id': 'writer',
        'producer-epoch': '3',
        'producer-seq': String(seq),
      });
      expect((await fetch(url, { method: 'PUT', headers: { 'content-type': 'text/plain' } })).status).toBe(201);
      expect((await fetch(url, { method: 'POST', headers: producer(0), body: 'a' })).status).toBe(200);
      expect((await fetch(url, { method: 'POST', headers: producer(1), body: 'b' })).status).toBe(200);
      // The answer to seq 1 was "lost": the client retries it, before and after a restart.
      const retry = await fetch(url, { method: 'POST', headers: producer(1), body: 'b' });
      expect(retry.status).toBe(204);
      expect(retry.headers.get('producer-seq')).toBe('1');
      await server.stop();
      server = await startTestServer(env);
      const url2 = `${server.url}/v1/stream/${path}`;
      const again = await fetch(url2, { method: 'POST', headers: producer(1), body: 'b' });
      expect(again.status).toBe(204);
      expect((await fetch(url2, { method: 'POST', headers: producer(3), body: 'd' })).status).toBe(409);
      const stale = await fetch(url2, {
        method: 'POST',
        headers: { ...producer(2), 'producer-epoch': '2' },
        body: 'z',
      });
      expect(stale.status).toBe(403);
      expect(stale.headers.get('producer-epoch')).toBe('3');
      expect((await fetch(url2, { method: 'POST', headers: producer(2), body: 'c' })).status).toBe(200);
      // Closed state and content survive too.
      const close = await fetch(url2, { method: 'POST', headers: { 'stream-closed': 'true' } });
      expect(close.status).toBe(204);
      await server.stop();
      server = await startTestServer(env);
      const read = await fetch(`${server.url}/v1/stream/${path}?offset=-1`);
      expect(await read.text()).toBe('abc');
      expect(read.headers.get('stream-closed')).toBe('true');
      expect(read.headers.get('content-type')).toBe('text/plain');
    } finally {
      await server.stop();
      await env.cleanup();
    }
  });
});

// Several Sluice nodes share one Postgres (the Kafka store): each renews a TTL stream's last
// access in memory and writes it to Postgres at its sweep. A node must judge expiry by the latest
// access any node wrote, not by the one it cached when it last served the stream.
describe('Durable Streams TTL across nodes', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startIsolatedServer({ SLUICE_STREAM_SWEEP_MS: '3600000' });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('a stream another node renewed (written to Postgres) is neither swept nor answered 404 here', async () => {
    const { durableStreams: streams, db } = server.services;
    const path = `ttl/${uid()}`;
    const put = await call(server.url, 'PUT', `/v1/stream/${path}`, {
      headers: { 'content-type': 'text/plain', 'stream-ttl': '2' },
      body: 'x',
    });
    expect(put.status).toBe(201);
    expect((await call(server.url, 'GET', `/v1/stream/${path}?offset=-1`)).status).toBe(200); // cached here
    await new Promise((r) => setTimeout(r, 1_500));
    // The other node served it now and its sweep wrote the access.
    await db.update(durableStreamsTable).set({ lastAccessAt: Date.now() });
    await new Promise((r) => setTimeout(r, 1_000)); // 2.5 s after this node's last access, 1 s after the other's
    await streams.sweep();
    expect((await call(server.url, 'HEAD', `/v1/stream/${path}`)).status).toBe(200);
    expect((await call(server.url, 'GET', `/v1/stream/${path}?offset=-1`)).status).toBe(200);
  });
});

describe('Durable Streams: an append the log refused, retried', () => {
  // The log refuses an append and writes nothing of it (503, "retry"), as the file log does when
  // no file descriptor is free. Whatever the append claimed (its Producer-Seq, its Stream-Seq,
  // the close it carried) must not answer its retry as if it had been done.
  let server: TestServer;
  beforeAll(async () => {
    server = await startIsolatedServer();
  });
  afterAll(async () => {
    await server?.stop();
  });
  const ds = (method: string, path: string, init: RequestInit = {}) =>
    call(server.url, method, `/v1/stream/${path}`, init);
  const text = { 'content-type': 'text/plain' };

  /** A new stream whose next append the log refuses once. */
  async function refusingOnce(): Promise<string> {
    const path = `refused-${uid()}`;
    expect((await ds('PUT', path, { headers: text })).status).toBe(201);
    const topic = server.services.topics.lookup(path)!;
    const log = server.services.log.getPartition(topic.id, 0)!;
    failOnce(log, 'append', async () => ({
      ok: false,
      error: { code: 'unavailable', reason: 'EMFILE: too many open files' },
    }));
    return path;
  }

  it('with producer headers: the retry appends (200), not "duplicate" (204) with nothing written', async () => {
    const path = await refusingOnce();
    const producer = { ...text, 'producer-id': 'p1', 'producer-epoch': '0', 'producer-seq': '0' };
    expect((await ds('POST', path, { headers: producer, body: 'hello' })).status).toBe(503);
    expect((await ds('POST', path, { headers: producer, body: 'hello' })).status).toBe(200);
    expect((await ds('POST', path, { headers: producer, body: 'hello' })).status).toBe(204);
    expect((await ds('GET', `${path}?offset=-1`)).text).toBe('hello');
  });

  it('with Stream-Seq: the retry appends, not 409 for a Stream-Seq nothing was written with', async () => {
    const path = await refusingOnce();
    const seq = { ...text, 'stream-seq': '001' };
    expect((await ds('POST', path, { headers: seq, body: 'a' })).status).toBe(503);
    expect((await ds('POST', path, { headers: seq, body: 'a' })).status).toBe(204);
    expect((await ds('POST', path, { headers: seq, body: 'a' })).status).toBe(409);
    expect((await ds('GET', `${path}?offset=-1`)).text).toBe('a');
  });

  it('with Stream-Closed: the stream stays open, and the retry appends and closes', async () => {
    const path = await refusingOnce();
    const closing = { ...text, 'stream-closed': 'true' };
    expect((await ds('POST', path, { headers: closing, body: 'last' })).status).toBe(503);
    expect((await ds('HEAD', path)).headers.get('stream-closed')).toBeNull();
    expect((await ds('POST', path, { headers: closing, body: 'last' })).status).toBe(204);
    const head = await ds('HEAD', path);
    expect(head.headers.get('stream-closed')).toBe('true');
    expect((await ds('GET', `${path}?offset=-1`)).text).toBe('last');
  });

  it('a create with a body and Stream-Closed whose last save fails is rolled back: the same PUT makes it (201)', async () => {
    const path = `unsaved-create-close-${uid()}`;
    const streams = server.services.durableStreams as unknown as {
      finishCreate: (...a: unknown[]) => Promise<unknown>;
    };
    failOnce(streams, 'finishCreate', () => Promise.reject(new Error('connection terminated')));
    const closed = { ...text, 'stream-closed': 'true' };
    expect((await ds('PUT', path, { headers: closed, body: 'only' })).status).toBe(500);
    // Not a stream that is open, or empty: none, so the client's retry is a create, not a 409.
    expect((await ds('HEAD', path)).status).toBe(404);
    expect((await ds('PUT', path, { headers: closed, body: 'only' })).status).toBe(201);
    expect((await ds('HEAD', path)).headers.get('stream-closed')).toBe('true');
    expect((await ds('GET', `${path}?offset=-1`)).text).toBe('only');
    expect((await ds('PUT', path, { headers: closed, body: 'only' })).status).toBe(200);
  });

  it('a close whose record was appended but not saved: the retry with the same producer headers saves it', async () => {
    const path = `unsaved-close-${uid()}`;
    expect((await ds('PUT', path, { headers: text })).status).toBe(201);
    // The close is saved in Postgres after the append: that write fails once.
    const streams = server.services.durableStreams as unknown as { persistClosed: (...a: unknown[]) => Promise<void> };
    failOnce(streams, 'persistClosed', () => Promise.reject(new Error('connection terminated')));
    const producer = {
      ...text,
      'producer-id': 'p1',
      'producer-epoch': '0',
      'producer-seq': '0',
      'stream-closed': 'true',
    };
    expect((await ds('POST', path, { headers: producer, body: 'last' })).status).toBe(500);
    expect((await ds('HEAD', path)).headers.get('stream-closed')).toBeNull();
    const retry = await ds('POST', path, { headers: producer, body: 'last' });
    expect(retry.status).toBe(204);
    expect((await ds('HEAD', path)).headers.get('stream-closed')).toBe('true');
    // Appended once: the retry found the record there and only saved the close.
    expect((await ds('GET', `${path}?offset=-1`)).text).toBe('last');
    expect((await ds('POST', path, { headers: { ...text }, body: 'more' })).status).toBe(409);
  });

  // A writer that sends its next append before the last is answered: a pipelined producer
  // (Producer-Seq N+1 sent while N is in flight) or a client that retries N before N's answer
  // came back. If the log refuses N, nothing after N may be written or answered as done: Kafka's
  // broker refuses N+1 out of order, and the retry of N must append N.
  const producer = (seq: number) => ({ ...text, 'producer-id': 'p1', 'producer-epoch': '0', 'producer-seq': `${seq}` });
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  /** A new stream whose log holds the next `refuse` appends until released, then refuses them. */
  async function heldStream(refuse: number) {
    const path = `held-${uid()}`;
    expect((await ds('PUT', path, { headers: text })).status).toBe(201);
    const topic = server.services.topics.lookup(path)!;
    const log = server.services.log.getPartition(topic.id, 0)!;
    const original = log.append.bind(log);
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let calls = 0;
    const arrived: Array<() => void> = [];
    log.append = (...args: Parameters<typeof log.append>) => {
      calls++;
      for (const wake of arrived.splice(0)) wake();
      if (calls > refuse) return original(...args);
      return released.then(() => ({
        ok: false as const,
        error: { code: 'unavailable' as const, reason: 'EMFILE: too many open files' },
      }));
    };
    /** Until the log has been called `n` times, or `ms` passed (a held writer never calls it). */
    const calledOrAfter = async (n: number, ms: number) => {
      const deadline = Date.now() + ms;
      while (calls < n && Date.now() < deadline)
        await Promise.race([new Promise<void>((r) => arrived.push(r)), sleep(deadline - Date.now())]);
    };
    return { path, release, calledOrAfter };
  }

  it('Producer-Seq N refused while N+1 is in flight: N+1 is refused as out of order (409), and both retries append', async () => {
    const { path, release, calledOrAfter } = await heldStream(1);
    const n = ds('POST', path, { headers: producer(0), body: 'a' });
    await calledOrAfter(1, 5000);
    const next = ds('POST', path, { headers: producer(1), body: 'b' });
    await calledOrAfter(2, 300);
    release();
    expect((await n).status).toBe(503);
    const answer = await next;
    expect(answer.status, answer.text).toBe(409);
    expect(answer.headers.get('producer-expected-seq')).toBe('0');
    expect((await ds('POST', path, { headers: producer(0), body: 'a' })).status).toBe(200);
    expect((await ds('POST', path, { headers: producer(1), body: 'b' })).status).toBe(200);
    expect((await ds('GET', `${path}?offset=-1`)).text).toBe('ab');
  });

  it('the retry of Producer-Seq N sent while N is in flight waits for N: refused there, the retry appends (200, not "duplicate")', async () => {
    const { path, release, calledOrAfter } = await heldStream(1);
    const n = ds('POST', path, { headers: producer(0), body: 'a' });
    await calledOrAfter(1, 5000);
    const retry = ds('POST', path, { headers: producer(0), body: 'a' });
    await calledOrAfter(2, 300);
    release();
    expect((await n).status).toBe(503);
    expect((await retry).status).toBe(200);
    expect((await ds('GET', `${path}?offset=-1`)).text).toBe('a');
    expect((await ds('POST', path, { headers: producer(0), body: 'a' })).status).toBe(204);
  });

  it('two Stream-Seq appends both refused: the first one’s retry appends, not 409 for a Stream-Seq nothing was written with', async () => {
    const { path, release, calledOrAfter } = await heldStream(2);
    const seq = (s: string) => ({ ...text, 'stream-seq': s });
    const first = ds('POST', path, { headers: seq('001'), body: 'a' });
    await calledOrAfter(1, 5000);
    const second = ds('POST', path, { headers: seq('002'), body: 'b' });
    await calledOrAfter(2, 300);
    release();
    expect((await first).status).toBe(503);
    expect((await second).status).toBe(503);
    const retry = await ds('POST', path, { headers: seq('001'), body: 'a' });
    expect(retry.status, retry.text).toBe(204);
    expect((await ds('POST', path, { headers: seq('002'), body: 'b' })).status).toBe(204);
    expect((await ds('GET', `${path}?offset=-1`)).text).toBe('ab');
  });

  it('different producers still write side by side: one held does not hold the other', async () => {
    const { path, release, calledOrAfter } = await heldStream(1);
    const held = ds('POST', path, { headers: producer(0), body: 'a' });
    await calledOrAfter(1, 5000);
    const other = await ds('POST', path, { headers: { ...producer(0), 'producer-id': 'p2' }, body: 'x' });
    expect(other.status).toBe(200);
    release();
    expect((await held).status).toBe(503);
    expect((await ds('GET', `${path}?offset=-1`)).text).toBe('x');
  });
});

/** The next call of `obj[method]` answers `fail()` instead; later calls go to the original method. */
function failOnce<T extends object, K extends keyof T>(obj: T, method: K, fail: () => Promise<unknown>): void {
  const original = obj[method] as (...args: unknown[]) => Promise<unknown>;
  let failed = false;
  obj[method] = ((...args: unknown[]) => {
    if (failed) return original.apply(obj, args);
    failed = true;
    return fail();
  }) as T[K];
}
