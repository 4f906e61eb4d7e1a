// A member's fetch answer is written into a buffer lent from the process's pool and given back
// once its last byte is handed to the socket (src/groups/answer-buffers.ts). An answer a slow
// client has not read yet is still being written from that buffer: other fetches reusing the
// pool meanwhile must not write over it.
import net from 'node:net';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startIsolatedServer, type TestServer } from './support/server.js';
import { createTopic, produce } from './sse-support.js';
import { groupFetchAnswerBuffers } from '../src/http/routes/group-fetch.js';

const RECORDS = 1000;
const VALUE_CHARS = 7000; // ~7 MB answers: more than the kernel's socket buffers take at once

interface Answer {
  member_id: string;
  records: Array<{ offset: number; value: { p: string } }>;
}

async function join(url: string, group: string, topic: string): Promise<string> {
  const res = await fetch(`${url}/v1/groups/${group}/members`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ topics: [topic], auto_offset_reset: 'earliest' }),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { member_id: string }).member_id;
}

const recordsPath = (group: string, member: string) =>
  `/v1/groups/${group}/members/${member}/records?max_records=${RECORDS}&max_bytes=${8 * 1024 * 1024}&wait_ms=5000`;

/** Fetches (never confirming, so every answer has the same records) until records come. */
async function fetchRecords(url: string, group: string, member: string): Promise<Answer> {
  for (;;) {
    const res = await fetch(`${url}${recordsPath(group, member)}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Answer;
    if (body.records.length > 0) return body;
  }
}

/** GETs whose answers are not read until `read()`: the server's writes back up meanwhile. */
async function pausedGet(url: string, ...paths: string[]): Promise<{ read(): Promise<Buffer>; destroy(): void }> {
  const { hostname, port } = new URL(url);
  const socket = net.connect({ host: hostname, port: Number(port) });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.pause();
  // Several paths are pipelined on the connection; the last one closes it.
  socket.write(
    paths
      .map(
        (p, i) =>
          `GET ${p} HTTP/1.1\r\nHost: ${hostname}\r\n${i === paths.length - 1 ? 'Connection: close\r\n' : ''}\r\n`,
      )
      .join(''),
  );
  return {
    destroy: () => socket.destroy(),
    read: () =>
      new Promise<Buffer>((resolve, reject) => {
        const chunks: Buffer[] = [];
        socket.on('data', (d: Buffer) => chunks.push(d));
        socket.once('end', () => resolve(Buffer.concat(chunks)));
        socket.once('error', reject);
        socket.resume();
      }),
  };
}

function httpBody(raw: Buffer): Buffer {
  const end = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, end).toString('latin1');
  expect(head).toMatch(/^HTTP\/1\.1 200 /);
  const body = raw.subarray(end + 4);
  if (!/\r\ntransfer-encoding: chunked/i.test(head)) return body;
  const parts: Buffer[] = [];
  for (let p = 0; ;) {
    const eol = body.indexOf('\r\n', p);
    const size = parseInt(body.subarray(p, eol).toString('latin1'), 16);
    if (size === 0) return Buffer.concat(parts);
    parts.push(body.subarray(eol + 2, eol + 2 + size));
    p = eol + 2 + size + 2;
  }
}

describe('group fetch answers written into reused buffers', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startIsolatedServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('an answer a client is slow to read stays intact while other fetches reuse the buffers', async () => {
    const topics = { a: `ta-${randomUUID()}`, b: `tb-${randomUUID()}` };
    for (const [letter, topic] of Object.entries(topics)) {
      await createTopic(server.url, topic, 1);
      for (let i = 0; i < RECORDS; i += 100)
        await produce(
          server.url,
          topic,
          Array.from({ length: 100 }, () => ({ value: { p: letter.repeat(VALUE_CHARS) } })),
        );
    }
    const groups = { a: `ga-${randomUUID()}`, b: `gb-${randomUUID()}` };
    const a = await join(server.url, groups.a, topics.a);
    const b = await join(server.url, groups.b, topics.b);
    expect((await fetchRecords(server.url, groups.a, a)).records).toHaveLength(RECORDS);

    const slow = await pausedGet(server.url, recordsPath(groups.a, a));
    await new Promise((r) => setTimeout(r, 500)); // its answer written and backed up
    for (let i = 0; i < 4; i++) {
      const other = await fetchRecords(server.url, groups.b, b);
      expect(other.records).toHaveLength(RECORDS);
      expect(other.records.every((r) => r.value.p === 'b'.repeat(VALUE_CHARS))).toBe(true);
    }

    const answer = JSON.parse(httpBody(await slow.read()).toString('utf8')) as Answer;
    expect(answer.member_id).toBe(a);
    expect(answer.records.map((r) => r.offset)).toEqual(Array.from({ length: RECORDS }, (_, i) => i));
    expect(answer.records.every((r) => r.value.p === 'a'.repeat(VALUE_CHARS))).toBe(true);
  }, 60_000);

  it('an answer whose client hung up before reading it is not held by the pool', async () => {
    // Its 'finish' never comes: the pool must not keep the buffer lent (8 MiB a time, for ever).
    const topic = `tc-${randomUUID()}`;
    await createTopic(server.url, topic, 1);
    for (let i = 0; i < RECORDS; i += 100)
      await produce(
        server.url,
        topic,
        Array.from({ length: 100 }, () => ({ value: { p: 'c'.repeat(VALUE_CHARS) } })),
      );
    const group = `gc-${randomUUID()}`;
    const member = await join(server.url, group, topic);
    expect((await fetchRecords(server.url, group, member)).records).toHaveLength(RECORDS);
    // The client can take the whole answer before the server's write completes and 'finish' gives
    // the buffer back: counted then, a buffer lent now would look like nothing new was lent. Every
    // answer so far has been read whole, so the pool holds none of them once their writes complete.
    await waitFor(() => groupFetchAnswerBuffers.counts.lent === 0, 'the answers read so far to be given back');
    const before = 0;
    // Hung up while the answer is being written (Node then emits 'finish' with the write's error).
    for (let i = 0; i < 2; i++) {
      const gone = await pausedGet(server.url, recordsPath(group, member));
      await waitFor(() => groupFetchAnswerBuffers.counts.lent > before, 'the answer to be written');
      gone.destroy();
      await waitFor(() => groupFetchAnswerBuffers.counts.lent === before, 'the pool to let the buffer go');
    }
    // Pipelined behind a long-poll: the answer waits for the socket and, the connection closed,
    // its response only ever sees 'close' (src/http/server.ts emits it), never 'finish'.
    const empty = `te-${randomUUID()}`;
    await createTopic(server.url, empty, 1);
    for (let i = 0; i < 2; i++) {
      const gone = await pausedGet(
        server.url,
        `/v1/topics/${empty}/partitions/0/records?offset=0&wait_ms=5000`,
        recordsPath(group, member),
      );
      await waitFor(() => groupFetchAnswerBuffers.counts.lent > before, 'the pipelined answer to be made');
      gone.destroy();
      await waitFor(() => groupFetchAnswerBuffers.counts.lent === before, 'the pool to let the buffer go');
    }
    // The pool still serves whole answers.
    expect((await fetchRecords(server.url, group, member)).records).toHaveLength(RECORDS);
  }, 60_000);
});

async function waitFor(done: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
