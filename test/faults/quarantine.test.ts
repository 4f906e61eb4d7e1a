// Fault 3: a flipped bit below the recovery point (fsynced data gone bad): the partition is
// quarantined, reported in /readyz and /metrics, nothing is truncated, other partitions work.
import fs from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectStatus, type Client } from '../support/client.js';
import { createTestEnv, startTestServer, type TestEnv, type TestServer } from '../support/server.js';
import { report } from './support/figures.js';
import { readPartition, segmentFiles, topicId } from './support/partition-reader.js';
import { runSeed, seededRandom } from './support/random.js';
import { batchSpans, flipBitIn, forgetCleanShutdown } from './support/segment-damage.js';

const seed = runSeed();
const rnd = seededRandom(seed);
let env: TestEnv;
let server: TestServer | undefined;
beforeAll(async () => {
  env = await createTestEnv({ SLUICE_LOG_STORE: 'file' });
});
afterAll(async () => {
  await server?.stop();
  await env?.cleanup();
});

async function fill(client: Client, topic: string, partitions: number, batches: number): Promise<void> {
  for (let b = 0; b < batches; b++) {
    for (let p = 0; p < partitions; p++) {
      const records = Array.from({ length: 3 }, (_, i) => ({ partition: p, value: { p, b, i, pad: 'q'.repeat(100) } }));
      expectStatus(await client.post('/v1/topics/{topic}/records', { params: { topic }, body: { records } }), 200);
    }
  }
}

async function metric(client: Client, name: string): Promise<number> {
  const text = (await client.raw('GET', '/metrics')).text;
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? Number.NaN : Number(line.split(' ')[1]);
}

/** Produce one record to each partition: the statuses, in partition order. */
async function produceStatuses(client: Client, topic: string, partitions: number): Promise<number[]> {
  const out: number[] = [];
  for (let p = 0; p < partitions; p++) {
    out.push(
      (
        await client.post('/v1/topics/{topic}/records', {
          params: { topic },
          body: { records: [{ partition: p, value: 'later' }] },
        })
      ).status,
    );
  }
  return out;
}

/** /readyz once it lists a quarantined partition (the background scrub finds corruption after open), or fails after the deadline. */
async function readyzWhenQuarantined(client: Client, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ready = await client.get('/readyz');
    if (ready.status === 503 && expectStatus(ready, 503).checks.log.quarantined.length > 0) return ready;
    if (Date.now() > deadline) throw new Error(`no partition quarantined within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The records of a partition from 0 up to (not including) `end`, and the partition's end offset as reads report it. */
async function readUpTo(client: Client, topic: string, partition: number, end: number) {
  const records: Array<{ offset: number; value: unknown }> = [];
  let offset = 0;
  let endOffset = -1;
  while (offset < end) {
    const page = expectStatus(
      await client.get('/v1/topics/{topic}/partitions/{partition}/records', {
        params: { topic, partition },
        query: { offset, max_records: end - offset },
      }),
      200,
    );
    endOffset = page.end_offset;
    if (page.records.length === 0) break;
    records.push(...page.records.map((r) => ({ offset: r.offset, value: r.value })));
    offset = page.next_offset;
  }
  return { records, endOffset };
}

describe('a flipped bit below the recovery point', () => {
  it('found after start-up by the scrub: quarantined read-only, in /readyz and /metrics, nothing truncated, other partitions keep working', async () => {
    server = await startTestServer(env);
    const topic = `t-${randomUUID()}`;
    expectStatus(await server.client.post('/v1/topics', { body: { name: topic, partitions: 3 } }), 201);
    await fill(server.client, topic, 3, 12);
    const id = await topicId(server.client, topic);
    await server.stop(); // clean: the recovery point is now the end of every partition
    server = undefined;

    const [file] = await segmentFiles(env.dataDir, id, 0);
    const spans = await batchSpans(file!);
    const victim = spans[Math.floor(spans.length / 2)]!;
    const at = await flipBitIn(victim, rnd);
    await forgetCleanShutdown(env.dataDir); // as after a crash: the start resumes at the checkpointed position
    const damaged = await fs.readFile(file!);

    const started = Date.now();
    server = await startTestServer(env);
    const startMs = Date.now() - started;
    expect(server.services.recovery.truncated).toEqual([]);
    // The start no longer reads below the recovery point; the background scrub does, right after.
    const ready = await readyzWhenQuarantined(server.client);
    const foundMs = Date.now() - started;
    expect(server.services.log.quarantined().map((q) => [q.topicId, q.partition])).toEqual([[id, 0]]);
    // Nothing truncated or rewritten.
    expect((await fs.readFile(file!)).equals(damaged)).toBe(true);

    expect(ready.status).toBe(503);
    const checks = expectStatus(ready, 503).checks;
    expect(checks.log.ok).toBe(false);
    expect(checks.log.quarantined.map((q) => [q.topic_id, q.partition])).toEqual([[id, 0]]);
    expect(checks.log.quarantined[0]!.reason).toMatch(/recovery point/);
    expect(await metric(server.client, 'sluice_log_quarantined_partitions')).toBe(1);
    expect(await metric(server.client, 'sluice_log_read_only_partitions')).toBe(1);

    // The intact prefix is still served, and nothing of the corrupt batch: a read reaching it
    // answers 503 naming the quarantine. Found after open, as a read would find it, the end
    // offset stays what was acknowledged (12 batches of 3): nothing is hidden or cut.
    const { records, endOffset } = await readUpTo(server.client, topic, 0, victim.baseOffset);
    expect(endOffset).toBe(12 * 3);
    const bad = await server.client.get('/v1/topics/{topic}/partitions/{partition}/records', {
      params: { topic, partition: 0 },
      query: { offset: victim.baseOffset, max_records: 10 },
    });
    expect(bad.status).toBe(503);
    expect(records.map((r) => r.value)).toEqual(
      Array.from({ length: victim.baseOffset }, (_, o) => ({
        p: 0,
        b: Math.floor(o / 3),
        i: o % 3,
        pad: 'q'.repeat(100),
      })),
    );
    // Writes: refused on the quarantined partition (503, never 500), accepted elsewhere.
    const statuses = await produceStatuses(server.client, topic, 3);
    expect(statuses).toEqual([503, 200, 200]);
    for (const p of [1, 2]) expect((await readPartition(server.client, topic, p)).endOffset).toBe(12 * 3 + 1);

    // A second start finds the same corruption and still truncates nothing.
    await server.stop();
    server = undefined;
    server = await startTestServer(env);
    await readyzWhenQuarantined(server.client);
    expect(server.services.log.quarantined().map((q) => q.partition)).toEqual([0]);
    expect(server.services.recovery.truncated).toEqual([]);
    expect((await fs.readFile(file!)).equals(damaged)).toBe(true);
    report('quarantine_at_start', {
      flipped_byte: at,
      batch_offset: victim.baseOffset,
      quarantined: server.services.log.quarantined().length,
      truncated_bytes: 0,
      other_partitions_ok: 2,
      start_ms: startMs,
      found_ms: foundMs,
      seed,
    });
    await server.stop();
    server = undefined;
  });

  it('found by a read after a clean start: the corrupt batch is never served and the partition is quarantined on sight', async () => {
    // A store holding a quarantined partition never writes the clean marker: start afresh.
    await env.cleanup();
    env = await createTestEnv({ SLUICE_LOG_STORE: 'file' });
    server = await startTestServer(env);
    const topic = `t-${randomUUID()}`;
    expectStatus(
      await server.client.post('/v1/topics', { body: { name: topic, partitions: 2, config: { segment_bytes: 4096 } } }),
      201,
    );
    await fill(server.client, topic, 2, 40);
    const id = await topicId(server.client, topic);
    await server.stop(); // clean: the marker stays, so the start verifies only the tails
    server = undefined;

    const files = await segmentFiles(env.dataDir, id, 0);
    expect(files.length).toBeGreaterThan(2);
    const spans = await batchSpans(files[0]!); // a closed, fsynced segment
    const victim = spans[1]!;
    await flipBitIn(victim, rnd);
    const damaged = await fs.readFile(files[0]!);

    server = await startTestServer(env);
    expect(server.services.recovery.cleanShutdown).toBe(true);
    const res = await server.client.get('/v1/topics/{topic}/partitions/{partition}/records', {
      params: { topic, partition: 0 },
      query: { offset: victim.baseOffset, max_records: 10 },
    });
    const servedStatus = res.status;
    // Never a corrupt record: whatever the status, no record at or past the bad batch comes back.
    if (res.status === 200) expect(res.body.records.filter((r) => r.offset >= victim.baseOffset)).toEqual([]);
    expect(servedStatus).not.toBe(200);

    const ready = await server.client.get('/readyz');
    expect(expectStatus(ready, 503).checks.log.quarantined.map((q) => [q.topic_id, q.partition])).toEqual([[id, 0]]);
    expect(await metric(server.client, 'sluice_log_quarantined_partitions')).toBe(1);
    expect(await produceStatuses(server.client, topic, 2)).toEqual([503, 200]);
    expect((await fs.readFile(files[0]!)).equals(damaged)).toBe(true);
    report('quarantine_on_read', { read_status: servedStatus, quarantined: 1, truncated_bytes: 0, seed });
    // The read that finds the corruption answers 503 naming the quarantine, never 500.
    expect(servedStatus).toBe(503);
  });
});
