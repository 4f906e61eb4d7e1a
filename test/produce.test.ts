// Black-box tests of POST /v1/topics/{topic}/records against a real server: value formats,
// NDJSON, Kafka partitioning, every error status (log unchanged), idempotency, topic changes.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectStatus } from './support/client.js';
import { rawConnect } from './support/raw-http.js';
import { startIsolatedServer, usingKafka, type TestServer } from './support/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startIsolatedServer({ SLUICE_MAX_RECORDS_PER_REQUEST: '50', SLUICE_MAX_BODY_BYTES: '65536' });
});
afterAll(async () => {
  await server?.stop();
});

type Format = 'json' | 'string' | 'binary';
async function topic(
  partitions = 1,
  config: { value_format?: Format; max_record_bytes?: number } = {},
): Promise<string> {
  const name = `t-${randomUUID()}`;
  expectStatus(await server.client.post('/v1/topics', { body: { name, partitions, config } }), 201);
  return name;
}

const produce = (name: string, records: unknown[], headers: Record<string, string> = {}) =>
  server.client.post('/v1/topics/{topic}/records', { params: { topic: name }, body: { records } as never, headers });

const read = (name: string, partition: number, query: Record<string, number> = {}) =>
  server.client.get('/v1/topics/{topic}/partitions/{partition}/records', { params: { topic: name, partition }, query });

async function endOffsets(name: string): Promise<number[]> {
  const t = expectStatus(await server.client.get('/v1/topics/{topic}', { params: { topic: name } }), 200);
  return t.partitions.map((p) => p.end_offset);
}

describe('record timestamps (CreateTime) are bounded around the server clock', () => {
  it('refuses a timestamp 100 years ahead with 422 naming SLUICE_TIMESTAMP_AFTER_MAX_MS; keeps past ones as sent', async () => {
    const name = await topic();
    const ahead = Date.now() + 100 * 365 * 86_400_000;
    const refused = await produce(name, [{ value: 'ok' }, { value: 'future', timestamp: ahead }]);
    expect(refused.status).toBe(422);
    expect(refused.status === 422 && refused.body.error).toMatchObject({
      code: 'invalid_record',
      record_index: 1,
      message: expect.stringMatching(/SLUICE_TIMESTAMP_AFTER_MAX_MS allows 3600000/),
    });
    expect(await endOffsets(name)).toEqual([0]); // nothing of the request was appended
    expectStatus(await produce(name, [{ value: 'soon', timestamp: Date.now() + 60_000 }]), 200);
    expectStatus(await produce(name, [{ value: 'old', timestamp: 1_000 }]), 200);
    const got = expectStatus(await read(name, 0), 200);
    expect(got.records.map((r) => r.timestamp)[1]).toBe(1_000);
  });
});

describe('produce → read round trips', () => {
  it('round-trips every value format with keys, headers and timestamps', async () => {
    const cases: Array<[Format, unknown[]]> = [
      ['json', [{ nested: { a: [1, 2.5, null, 'x'] } }, 'text', 7, false, null, []]],
      ['string', ['héllo wörld', '', null]],
      ['binary', [Buffer.from([0, 1, 254, 255]).toString('base64'), '', null]],
    ];
    for (const [format, values] of cases) {
      const name = await topic(1, { value_format: format });
      const records = values.map((value, i) => ({
        key: i % 2 ? `k${i}` : null,
        value,
        headers: { h: `v${i}` },
        timestamp: 1_000 + i,
      }));
      const res = expectStatus(await produce(name, records), 200);
      expect(res.offsets).toEqual(values.map((_, i) => ({ partition: 0, offset: i })));
      const got = expectStatus(await read(name, 0), 200);
      expect(got.records).toEqual(
        records.map((r, i) => ({
          topic: name,
          partition: 0,
          offset: i,
          timestamp: r.timestamp,
          key: r.key,
          value: r.value,
          headers: r.headers,
        })),
      );
      expect([got.next_offset, got.end_offset]).toEqual([values.length, values.length]);
    }
  });

  it('defaults the timestamp to the time of the request', async () => {
    const name = await topic();
    const before = Date.now();
    expectStatus(await produce(name, [{ value: 1 }]), 200);
    const [rec] = expectStatus(await read(name, 0), 200).records;
    expect(rec!.timestamp).toBeGreaterThanOrEqual(before);
    expect(rec!.timestamp).toBeLessThanOrEqual(Date.now());
  });

  it('accepts NDJSON streamed in chunks, answering offsets in request order', async () => {
    const name = await topic(1, { value_format: 'string' });
    const lines = Array.from({ length: 40 }, (_, i) => JSON.stringify({ value: `v${i}` }));
    const bytes = new TextEncoder().encode(lines.join('\n') + '\n');
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < bytes.length; i += 97) c.enqueue(bytes.subarray(i, i + 97));
        c.close();
      },
    });
    const res = await fetch(`${server.url}/v1/topics/${name}/records`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body,
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(200);
    const { offsets } = (await res.json()) as { offsets: Array<{ offset: number }> };
    expect(offsets.map((o) => o.offset)).toEqual(lines.map((_, i) => i));
    const got = expectStatus(await read(name, 0, { max_records: 100 }), 200);
    expect(got.records.map((r) => r.value)).toEqual(lines.map((_, i) => `v${i}`));
  });
});

describe('partitioning', () => {
  // Kafka's UtilsTest.testMurmur2 vectors; Kafka picks (hash & 0x7fffffff) % partitions.
  const vectors: Array<[string, number]> = [
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['a-little-bit-longer-string', -1486304829],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
    ['abc', 479470107],
  ];

  it('puts keyed records where Kafka’s default partitioner would', async () => {
    const name = await topic(7);
    const res = expectStatus(
      await produce(
        name,
        vectors.map(([key]) => ({ key, value: key })),
      ),
      200,
    );
    expect(res.offsets.map((o) => o.partition)).toEqual(vectors.map(([, h]) => (h & 0x7fffffff) % 7));
  });

  it('honours an explicit partition and spreads keyless requests across partitions', async () => {
    const name = await topic(3);
    expect(expectStatus(await produce(name, [{ value: 1, partition: 2, key: 'abc' }]), 200).offsets).toEqual([
      { partition: 2, offset: 0 },
    ]);
    const used = new Set<number>();
    for (let i = 0; i < 3; i++)
      for (const o of expectStatus(await produce(name, [{ value: i }]), 200).offsets) used.add(o.partition);
    expect(used).toEqual(new Set([0, 1, 2]));
  });

  it('routes keys by the new count after partitions grow', async () => {
    const name = await topic(2);
    expectStatus(
      await server.client.patch('/v1/topics/{topic}', { params: { topic: name }, body: { partitions: 7 } }),
      200,
    );
    const res = expectStatus(
      await produce(
        name,
        vectors.map(([key]) => ({ key, value: key })),
      ),
      200,
    );
    expect(res.offsets.map((o) => o.partition)).toEqual(vectors.map(([, h]) => (h & 0x7fffffff) % 7));
    const p = res.offsets[0]!.partition;
    const got = expectStatus(await read(name, p), 200);
    expect(got.records.map((r) => r.key)).toContain('21');
  });
});

describe('refusals leave the log unchanged', () => {
  const raw = (
    name: string,
    body: string | Uint8Array,
    contentType = 'application/json',
    headers: Record<string, string> = {},
  ) =>
    server.client.raw('POST', `/v1/topics/${name}/records`, {
      body,
      headers: { 'content-type': contentType, ...headers },
    });

  it.each<[string, (name: string) => Promise<{ status: number; json: unknown }>, number, Record<string, unknown>]>([
    ['malformed JSON', (n) => raw(n, '{"records": ['), 400, { code: 'bad_request' }],
    [
      'a record with a bad shape',
      (n) => raw(n, JSON.stringify({ records: [{ value: 1 }, { value: 2, key: 9 }] })),
      400,
      { code: 'bad_request', record_index: 1 },
    ],
    [
      'an unknown record field',
      (n) => raw(n, JSON.stringify({ records: [{ value: 1, vaule: 2 }] })),
      400,
      { code: 'bad_request', record_index: 0 },
    ],
    [
      'a bad NDJSON line',
      (n) => raw(n, '{"value":1}\n{"value":\n', 'application/x-ndjson'),
      400,
      { code: 'bad_request', line: 2 },
    ],
    [
      'an unsupported content type',
      (n) => raw(n, 'value=1', 'application/x-www-form-urlencoded'),
      415,
      { code: 'unsupported_media_type' },
    ],
    [
      'a missing partition',
      (n) => raw(n, JSON.stringify({ records: [{ value: 1 }, { value: 2, partition: 5 }] })),
      422,
      { code: 'invalid_record', record_index: 1 },
    ],
    [
      'a non-string header value',
      (n) => raw(n, JSON.stringify({ records: [{ value: 1, headers: { a: 1 } }] })),
      400,
      { code: 'bad_request', record_index: 0 },
    ],
    [
      'too many records',
      (n) => raw(n, JSON.stringify({ records: Array.from({ length: 51 }, () => ({ value: 1 })) })),
      413,
      { code: 'payload_too_large', limit: 'max_records_per_request', max_records: 50 },
    ],
    [
      'too many NDJSON records',
      (n) => raw(n, '{"value":1}\n'.repeat(51), 'application/x-ndjson'),
      413,
      { code: 'payload_too_large', limit: 'max_records_per_request', line: 51 },
    ],
    [
      'a record over max_record_bytes',
      (n) => raw(n, JSON.stringify({ records: [{ value: 1 }, { value: 'x'.repeat(300) }] })),
      413,
      { code: 'payload_too_large', limit: 'max_record_bytes', max_bytes: 256, record_index: 1 },
    ],
    [
      'an NDJSON body over the body limit',
      (n) => raw(n, `{"value":1}${' '.repeat(4000)}\n`.repeat(20), 'application/x-ndjson'),
      413,
      { code: 'payload_too_large', limit: 'max_body_bytes', max_bytes: 65536 },
    ],
    [
      'a JSON body over the body limit',
      (n) => raw(n, JSON.stringify({ records: [{ value: 'x'.repeat(70_000) }] })),
      413,
      { code: 'payload_too_large', limit: 'max_body_bytes' },
    ],
    [
      'a malformed Idempotency-Key',
      (n) =>
        raw(n, JSON.stringify({ records: [{ value: 1 }] }), 'application/json', { 'idempotency-key': 'has space' }),
      400,
      { code: 'bad_request' },
    ],
    [
      'Producer-Id without Producer-Seq',
      (n) => raw(n, JSON.stringify({ records: [{ value: 1 }] }), 'application/json', { 'producer-id': '1' }),
      400,
      { code: 'bad_request' },
    ],
  ])('%s', async (_name, send, status, error) => {
    const name = await topic(2, { max_record_bytes: 256 });
    const res = await send(name);
    expect(res.status).toBe(status);
    expect((res.json as { error: Record<string, unknown> }).error).toMatchObject(error);
    expect(await endOffsets(name)).toEqual([0, 0]);
  });

  it('answers 404 topic_not_found for an unknown topic', async () => {
    const res = await produce(`t-${randomUUID()}`, [{ value: 1 }]);
    expect(res.status).toBe(404);
    expect(res.status === 404 && res.body.error.code).toBe('topic_not_found');
  });

  it('refuses a json value nested deeper than SLUICE_MAX_JSON_DEPTH (JSON and NDJSON bodies), naming the limit', async () => {
    // ~5,000 levels with a line break inside: once accepted, it failed every read that included it.
    const deep = `${'['.repeat(2500)}\n${'{"a":'.repeat(2500)}1${'}'.repeat(2500)}${']'.repeat(2500)}`;
    const atLimit = `${'['.repeat(128)}${']'.repeat(128)}`;
    const name = await topic(1);
    const json = await raw(name, `{"records":[{"value":1},{"value":${deep}}]}`);
    expect(json.status).toBe(422);
    const jsonError = (json.json as { error: { code: string; message: string; record_index: number } }).error;
    expect(jsonError).toMatchObject({ code: 'invalid_record', record_index: 1 });
    expect(jsonError.message).toContain('more than 128 deep');
    const nd = await raw(name, `{"value":1}\n{"value":${deep.replace('\n', ' ')}}\n`, 'application/x-ndjson');
    expect(nd.status).toBe(422);
    expect((nd.json as { error: Record<string, unknown> }).error).toMatchObject({ code: 'invalid_record', line: 2 });
    const over = await raw(name, `{"records":[{"value":[${atLimit}]}]}`);
    expect(over.status).toBe(422);
    expect(await endOffsets(name)).toEqual([0]);
    // Exactly at the limit is accepted and reads back.
    expect((await raw(name, `{"records":[{"value":${atLimit}}]}`)).status).toBe(200);
    const got = expectStatus(await read(name, 0), 200);
    expect(JSON.stringify(got.records[0]?.value)).toBe(atLimit);
  });

  it('refuses json values a strict parser cannot read back: lone surrogate escapes, bytes that are not UTF-8', async () => {
    const name = await topic(1);
    for (const bad of ['"\\ud800"', '{"a":["x\\udc00y"]}', '"\\ud800\\u0041"']) {
      const res = await raw(name, `{"records":[{"value":1},{"value":${bad}}]}`);
      expect(res.status, bad).toBe(422);
      expect((res.json as { error: Record<string, unknown> }).error).toMatchObject({
        code: 'invalid_record',
        record_index: 1,
      });
    }
    const nd = await raw(name, `{"value":1}\n{"value":"\\ud83d"}\n`, 'application/x-ndjson');
    expect(nd.status).toBe(422);
    const notUtf8 = Buffer.concat([
      Buffer.from('{"records":[{"value":"a'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('"}]}'),
    ]);
    expect((await raw(name, notUtf8)).status).toBe(422);
    expect(await endOffsets(name)).toEqual([0]);
    // A proper pair (and other escapes) is fine and reads back unchanged.
    expect((await raw(name, '{"records":[{"value":"\\ud83d\\ude00 \\u00e9 \\n"}]}')).status).toBe(200);
    const got = expectStatus(await read(name, 0), 200);
    expect(got.records[0]?.value).toBe('\u{1F600} é \n');
  });

  it('refuses keys, header names and values, and string values that are not text (lone surrogate escapes, bytes that are not UTF-8) instead of storing them altered', async () => {
    const json = await topic(1);
    const str = await topic(1, { value_format: 'string' });
    const cases: Array<[string, string]> = [
      [json, '{"key":"a\\ud800","value":1}'],
      [json, '{"value":1,"headers":{"h":"x\\udc00"}}'],
      [json, '{"value":1,"headers":{"\\ud83d":"v"}}'],
      [str, '{"value":"a\\ud800b"}'],
    ];
    for (const [name, bad] of cases) {
      const res = await raw(name, `{"records":[{"value":${name === str ? '"ok"' : '1'}},${bad}]}`);
      expect(res.status, bad).toBe(422);
      expect((res.json as { error: Record<string, unknown> }).error, bad).toMatchObject({
        code: 'invalid_record',
        record_index: 1,
      });
      const nd = await raw(name, `${bad}\n`, 'application/x-ndjson');
      expect(nd.status, `ndjson ${bad}`).toBe(422);
    }
    const notUtf8 = (before: string, after: string) =>
      Buffer.concat([Buffer.from(before), Buffer.from([0xff, 0xfe]), Buffer.from(after)]);
    const bytes: Array<[string, Buffer]> = [
      [json, notUtf8('{"records":[{"value":1},{"key":"a', '","value":1}]}')],
      [json, notUtf8('{"records":[{"value":1},{"value":1,"headers":{"h":"', '"}}]}')],
      [str, notUtf8('{"records":[{"value":"ok"},{"value":"a', '"}]}')],
      [json, notUtf8('{"key":"a', '","value":1}\n')],
    ];
    for (const [name, body] of bytes) {
      const ndjson = !body.toString('latin1').startsWith('{"records"');
      const res = await raw(name, body, ndjson ? 'application/x-ndjson' : 'application/json');
      expect(res.status, body.toString('latin1')).toBe(422);
      expect((res.json as { error: Record<string, unknown> }).error).toMatchObject({ code: 'invalid_record' });
    }
    expect(await endOffsets(json)).toEqual([0]);
    expect(await endOffsets(str)).toEqual([0]);
    // Proper pairs and a real U+FFFD are text: kept as sent.
    const fine = '{"records":[{"key":"\\ud83d\\ude00\ufffd","value":1,"headers":{"h":"\\u00e9"}}]}';
    expect((await raw(json, fine)).status).toBe(200);
    const got = expectStatus(await read(json, 0), 200);
    expect(got.records[0]).toMatchObject({ key: '\u{1F600}\ufffd', headers: { h: 'é' } });
  });

  it('refuses a number beyond a 64-bit float (1e400), which parsers read as infinity, null or an error; keeps large finite ones', async () => {
    const name = await topic(1);
    const huge = `1${'0'.repeat(400)}`;
    for (const bad of ['1e400', '-1E+999', '{"a":[1,2e400]}', huge]) {
      const res = await raw(name, `{"records":[{"value":1},{"value":${bad}}]}`);
      expect(res.status, bad).toBe(422);
      expect((res.json as { error: Record<string, unknown> }).error).toMatchObject({
        code: 'invalid_record',
        record_index: 1,
      });
      const nd = await raw(name, `{"value":${bad}}\n`, 'application/x-ndjson');
      expect(nd.status, `ndjson ${bad}`).toBe(422);
    }
    expect(await endOffsets(name)).toEqual([0]);
    for (const fine of ['1e308', '1e-400', '{"e100":"1e999"}']) {
      expect((await raw(name, `{"records":[{"value":${fine}}]}`)).status, fine).toBe(200);
    }
  });

  it('refuses a value that does not fit the topic’s value_format', async () => {
    const name = await topic(1, { value_format: 'binary' });
    const res = await produce(name, [{ value: 'AAAA' }, { value: 'not base64!' }]);
    expect(res.status).toBe(422);
    expect(res.status === 422 && res.body.error).toMatchObject({ code: 'invalid_record', record_index: 1 });
    expect(await endOffsets(name)).toEqual([0]);
  });
});

describe('idempotency', () => {
  it('Idempotency-Key: a retry returns the first offsets and appends nothing; another body → 422', async () => {
    const name = await topic(3);
    const key = randomUUID();
    const records = [{ key: 'a', value: 1 }, { key: 'b', value: 2 }, { value: 3 }];
    const first = expectStatus(await produce(name, records, { 'idempotency-key': key }), 200);
    const concurrent = await Promise.all([1, 2, 3].map(() => produce(name, records, { 'idempotency-key': key })));
    for (const r of concurrent) expect(expectStatus(r, 200)).toEqual(first);
    expect((await endOffsets(name)).reduce((a, b) => a + b)).toBe(3);
    const other = await produce(name, [{ value: 9 }], { 'idempotency-key': key });
    expect(other.status).toBe(422);
  });

  it('an empty Idempotency-Key header is 400, not a request without one', async () => {
    const name = await topic(1);
    const body = JSON.stringify({ records: [{ value: 1 }] });
    for (const header of ['Idempotency-Key:', 'Idempotency-Key: ', 'Idempotency-Key:\t']) {
      const conn = await rawConnect(server.url);
      conn.write(
        `POST /v1/topics/${name}/records HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
          `${header}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
      );
      const res = await conn.response();
      conn.destroy();
      expect(res.status, JSON.stringify(header)).toBe(400);
    }
    expect(await endOffsets(name)).toEqual([0]);
  });

  it('concurrent first attempts with one key append once', async () => {
    const name = await topic(1);
    const key = randomUUID();
    const results = await Promise.all(
      [1, 2, 3, 4].map(() => produce(name, [{ value: 'once' }], { 'idempotency-key': key })),
    );
    const bodies = results.map((r) => expectStatus(r, 200));
    expect(new Set(bodies.map((b) => JSON.stringify(b))).size).toBe(1);
    expect(await endOffsets(name)).toEqual([1]);
  });

  it('Producer-Seq: duplicates replay, gaps → 409 conflict, stale epochs → 409 fenced', async () => {
    const name = await topic(1);
    const h = (seq: number, epoch = 1) => ({
      'producer-id': '12345',
      'producer-epoch': String(epoch),
      'producer-seq': String(seq),
    });
    const a = expectStatus(await produce(name, [{ value: 'a' }], h(0)), 200);
    expectStatus(await produce(name, [{ value: 'b' }], h(1)), 200);
    expect(expectStatus(await produce(name, [{ value: 'a' }], h(0)), 200)).toEqual(a);
    const gap = await produce(name, [{ value: 'd' }], h(3));
    expect(gap.status === 409 && gap.body.error).toMatchObject({ code: 'conflict', expected_seq: 2 });
    const stale = await produce(name, [{ value: 'x' }], h(2, 0));
    expect(stale.status === 409 && stale.body.error).toMatchObject({ code: 'fenced', current_epoch: 1 });
    expect(expectStatus(await produce(name, [{ value: 'n' }], h(0, 2)), 200).offsets).toEqual([
      { partition: 0, offset: 2 },
    ]);
    expect(await endOffsets(name)).toEqual([3]);
  });

  it('Producer-Seq does not wrap: past 2^31-1 → 400 naming the header, a wrap to 0 → 409 saying to bump the epoch', async () => {
    const name = await topic(1);
    const max = 2 ** 31 - 1;
    const h = (seq: number | string, epoch = 3) => ({
      'producer-id': '777',
      'producer-epoch': String(epoch),
      'producer-seq': String(seq),
    });
    const last = expectStatus(await produce(name, [{ value: 'last' }], h(max)), 200);
    const over = await produce(name, [{ value: 'over' }], h(max + 1));
    expect(over.status).toBe(400);
    expect(over.status === 400 && over.body.error).toMatchObject({
      code: 'bad_request',
      header: 'producer-seq',
      message: expect.stringMatching(
        /Producer-Seq must be an integer between 0 and 2147483647.*does not wrap.*Producer-Epoch/,
      ),
    });
    for (const wrapped of [0, 1, max - 1]) {
      const res = await produce(name, [{ value: 'wrapped' }], h(wrapped));
      expect(res.status, String(wrapped)).toBe(409);
      const error = (res.body as { error: Record<string, unknown> }).error;
      expect(error, String(wrapped)).toMatchObject({
        code: 'conflict',
        reason: 'producer_seq_exhausted',
        current_epoch: 3,
        message: expect.stringMatching(/2147483647.*does not wrap.*Producer-Epoch 4.*Producer-Seq 0/),
      });
      // No `expected_seq`: there is no sequence the producer could send next in this epoch.
      expect(error, String(wrapped)).not.toHaveProperty('expected_seq');
    }
    // The last request still replays; the next epoch starts again at 0.
    expect(expectStatus(await produce(name, [{ value: 'last' }], h(max)), 200)).toEqual(last);
    expectStatus(await produce(name, [{ value: 'fresh' }], h(0, 4)), 200);
    expect(await endOffsets(name)).toEqual([2]);
  });
});

describe('Producer-* header values', () => {
  /** One request over a raw socket, header bytes exactly as given (latin1). */
  async function rawPost(path: string, headers: string[], body: string, type: string) {
    const conn = await rawConnect(server.url);
    conn.write(
      Buffer.from(
        `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${type}\r\n${headers.map((h) => `${h}\r\n`).join('')}` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        'latin1',
      ),
    );
    const res = await conn.response();
    conn.destroy();
    return res;
  }

  it('optional whitespace around a value (spaces, tabs; RFC 9110) is not part of it, on produce and on Durable Streams', async () => {
    const name = await topic(1);
    const body = JSON.stringify({ records: [{ value: 1 }] });
    const sent = ['Producer-Id: \t 41 \t', 'Producer-Epoch:  2\t', 'Producer-Seq:\t0 '];
    const first = await rawPost(`/v1/topics/${name}/records`, sent, body, 'application/json');
    expect(first.status, first.body).toBe(200);
    // The same producer without the whitespace: a duplicate of seq 0, so nothing is appended.
    const again = await produce(name, [{ value: 1 }], {
      'producer-id': '41',
      'producer-epoch': '2',
      'producer-seq': '0',
    });
    expect(expectStatus(again, 200)).toEqual(JSON.parse(first.body));
    expect(await endOffsets(name)).toEqual([1]);

    const stream = `/v1/stream/ows-${randomUUID()}`;
    expect(
      (await fetch(`${server.url}${stream}`, { method: 'PUT', headers: { 'content-type': 'text/plain' } })).status,
    ).toBe(201);
    const ds = await rawPost(
      stream,
      ['Producer-Id: w', 'Producer-Epoch: \t2 ', 'Producer-Seq:  0\t'],
      'a',
      'text/plain',
    );
    expect(ds.status, ds.body).toBe(200);
    expect(ds.headers['producer-epoch']).toBe('2');
    expect(ds.headers['producer-seq']).toBe('0');
  });

  it('other whitespace around a number (a no-break space) is 400 naming the header, on produce and on Durable Streams', async () => {
    const name = await topic(1);
    const body = JSON.stringify({ records: [{ value: 1 }] });
    const nbsp = '\u00a0';
    for (const [header, sent] of [
      ['producer-id', [`Producer-Id: ${nbsp}41`, 'Producer-Seq: 0']],
      ['producer-epoch', ['Producer-Id: 41', `Producer-Epoch: 2${nbsp}`, 'Producer-Seq: 0']],
      ['producer-seq', ['Producer-Id: 41', `Producer-Seq: ${nbsp}0${nbsp}`]],
    ] as const) {
      const res = await rawPost(`/v1/topics/${name}/records`, [...sent], body, 'application/json');
      expect(res.status, header).toBe(400);
      expect((JSON.parse(res.body) as { error: Record<string, unknown> }).error, header).toMatchObject({
        code: 'bad_request',
        header,
      });
    }
    expect(await endOffsets(name)).toEqual([0]);

    const stream = `/v1/stream/nbsp-${randomUUID()}`;
    expect(
      (await fetch(`${server.url}${stream}`, { method: 'PUT', headers: { 'content-type': 'text/plain' } })).status,
    ).toBe(201);
    for (const sent of [
      ['Producer-Id: w', `Producer-Epoch: ${nbsp}2`, 'Producer-Seq: 0'],
      ['Producer-Id: w', 'Producer-Epoch: 2', `Producer-Seq: 0${nbsp}`],
    ]) {
      const res = await rawPost(stream, sent, 'a', 'text/plain');
      expect(res.status, sent.join()).toBe(400);
    }
    expect(await (await fetch(`${server.url}${stream}?offset=-1`)).text()).toBe('');
  });
});

describe('idempotency keys belong to the principal that sent them', () => {
  const ADMIN_KEY = `adm_${randomUUID()}${randomUUID()}`;
  let secured: TestServer;
  beforeAll(async () => {
    secured = await startIsolatedServer({ SLUICE_ADMIN_KEY: ADMIN_KEY });
  });
  afterAll(async () => {
    await secured?.stop();
  });

  const post = async (credential: string, path: string, body: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${secured.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
  };
  const newKey = async () =>
    (
      await post(ADMIN_KEY, '/v1/keys', {
        name: 'p',
        grants: [{ resource: 'topic', name: '*', actions: ['write', 'create'] }],
      })
    ).body as { key: string };

  it('another key reusing an Idempotency-Key gets its own append, not the first key’s answer; the same key (or its token) gets a replay', async () => {
    const name = `t-${randomUUID()}`;
    expect((await post(ADMIN_KEY, '/v1/topics', { name })).status).toBe(201);
    const a = await newKey();
    const b = await newKey();
    const idem = { 'idempotency-key': randomUUID() };
    const body = { records: [{ value: 'same' }] };
    const first = await post(a.key, `/v1/topics/${name}/records`, body, idem);
    expect(first.body).toEqual({ offsets: [{ partition: 0, offset: 0 }] });
    const other = await post(b.key, `/v1/topics/${name}/records`, body, idem);
    expect(other.body).toEqual({ offsets: [{ partition: 0, offset: 1 }] });
    // A different body under B's use of the key is B's conflict alone.
    expect((await post(b.key, `/v1/topics/${name}/records`, { records: [{ value: 'x' }] }, idem)).status).toBe(422);
    expect((await post(a.key, `/v1/topics/${name}/records`, body, idem)).body).toEqual(first.body);
    const token = (
      await post(a.key, '/v1/tokens', {
        grants: [{ resource: 'topic', name: '*', actions: ['write'] }],
        ttl_ms: 60_000,
      })
    ).body as { token: string };
    expect((await post(token.token, `/v1/topics/${name}/records`, body, idem)).body).toEqual(first.body);
  });
});

describe('topic lifecycle', () => {
  // On Kafka the brokers retain on their own clock (log.retention.check.interval.ms) and segments are ≥ 1 MiB.
  it.skipIf(usingKafka())(
    'applies a retention change to the log: old segments go, reads below the start answer 416',
    async () => {
      const name = `t-${randomUUID()}`;
      expectStatus(
        await server.client.post('/v1/topics', {
          body: { name, config: { segment_bytes: 1024, value_format: 'string' } },
        }),
        201,
      );
      for (let i = 0; i < 10; i++) {
        expectStatus(await produce(name, [{ value: `${i}-${'x'.repeat(300)}` }]), 200);
      }
      await server.services.log.enforceRetention();
      const kept = expectStatus(await server.client.get('/v1/topics/{topic}', { params: { topic: name } }), 200);
      expect(kept.partitions[0]!.start_offset).toBe(0); // default retention keeps everything this young
      expectStatus(
        await server.client.patch('/v1/topics/{topic}', {
          params: { topic: name },
          body: { config: { retention_bytes: 1024 } },
        }),
        200,
      );
      await server.services.log.enforceRetention();
      const t = expectStatus(await server.client.get('/v1/topics/{topic}', { params: { topic: name } }), 200);
      const start = t.partitions[0]!.start_offset;
      expect(start).toBeGreaterThan(0);
      expect(t.partitions[0]!.end_offset).toBe(10);
      const below = await read(name, 0, { offset: 0 });
      expect(below.status === 416 && below.body.error).toMatchObject({
        code: 'offset_out_of_range',
        start_offset: start,
        end_offset: 10,
      });
      const fromStart = expectStatus(await read(name, 0), 200);
      expect(fromStart.records[0]!.offset).toBe(start);
      expect(fromStart.records.at(-1)!.value).toBe(`9-${'x'.repeat(300)}`);
    },
  );

  it('deleting a topic removes its data: a recreated topic starts empty', async () => {
    const name = await topic(1);
    expectStatus(await produce(name, [{ value: 1 }, { value: 2 }]), 200);
    expect((await server.client.delete('/v1/topics/{topic}', { params: { topic: name } })).status).toBe(204);
    expect((await read(name, 0)).status).toBe(404);
    expectStatus(await server.client.post('/v1/topics', { body: { name } }), 201);
    const got = expectStatus(await read(name, 0), 200);
    expect(got).toEqual({ records: [], next_offset: 0, end_offset: 0 });
  });
});
