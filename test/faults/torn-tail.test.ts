// Fault 2: torn and garbage tails, fuzzed at the server level: stop the server, leave what a
// crash in the middle of a write leaves after the acknowledged batches, restart, read over HTTP.
// Twice: above a fresh checkpoint (a flush or roll wrote it, so the start resumes its scan there,
// as after any crash now) and with no checkpoint (none, or one from before resume positions).
import fs from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectStatus, type Client } from '../support/client.js';
import { createTestEnv, startTestServer, type TestEnv, type TestServer } from '../support/server.js';
import { knob, report } from './support/figures.js';
import { offsetGaps, readPartition, segmentFiles, topicId } from './support/partition-reader.js';
import { between, runSeed, seededRandom } from './support/random.js';
import {
  batchSpans,
  forgetCleanShutdown,
  setRecoveryPoint,
  TAIL_DAMAGES,
  tearUnacknowledged,
  type TailDamage,
} from './support/segment-damage.js';

const ROUNDS = knob('FAULTS_TORN_ROUNDS', 2, 20);
const PARTITIONS = knob('FAULTS_TORN_PARTITIONS', 20, 40);
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

type Value = { p: number; i: number; pad: string };

/** `batches` produce requests of 1–4 records to partition `p`, each acknowledged (fsync) at the next dense offsets. */
async function produce(client: Client, topic: string, p: number, acked: Value[], batches: number): Promise<void> {
  for (let b = 0; b < batches; b++) {
    const records = Array.from({ length: between(rnd, 1, 4) }, (_, j) => ({
      partition: p,
      value: { p, i: acked.length + j, pad: 'x'.repeat(between(rnd, 10, 200)) },
    }));
    const res = expectStatus(
      await client.post('/v1/topics/{topic}/records', { params: { topic }, body: { records } }),
      200,
    );
    res.offsets.forEach((o, i) => {
      expect(o.offset).toBe(acked.length);
      acked.push(records[i]!.value);
    });
  }
}

const checkpointPath = (id: string, p: number): string => path.join(env.dataDir, id, String(p), 'partition.checkpoint');

type Mode = 'fresh-checkpoint' | 'no-checkpoint';

describe('torn and garbage tails (server level)', () => {
  for (const mode of ['fresh-checkpoint', 'no-checkpoint'] as const satisfies readonly Mode[]) {
    it(`${mode}: ${ROUNDS} rounds × ${PARTITIONS} torn partitions: every acknowledged record kept, offsets dense, the tear cut`, async () => {
      const byKind = new Map<TailDamage, number>();
      let cases = 0;
      let acked = 0;
      let lost = 0;
      let dup = 0;
      let gaps = 0;
      let ackedAboveCheckpoint = 0;
      let truncatedReported = 0;
      let recoveryMsMax = 0;
      for (let round = 0; round < ROUNDS; round++) {
        server ??= await startTestServer(env);
        const topic = `t-${randomUUID()}`;
        expectStatus(
          await server.client.post('/v1/topics', {
            body: { name: topic, partitions: PARTITIONS, config: { segment_bytes: 2048 } },
          }),
          201,
        );
        const id = await topicId(server.client, topic);
        // Several segments per partition, the last one open.
        const written: Value[][] = Array.from({ length: PARTITIONS }, () => []);
        for (let p = 0; p < PARTITIONS; p++) await produce(server.client, topic, p, written[p]!, between(rnd, 6, 14));
        if (mode === 'fresh-checkpoint') {
          // A clean stop checkpoints every partition's end; the next run acknowledges more after it
          // (rolling on the way, which checkpoints too): at the crash those records lie above the checkpoint.
          await server.stop();
          server = await startTestServer(env);
        }
        for (let p = 0; p < PARTITIONS; p++) await produce(server.client, topic, p, written[p]!, between(rnd, 1, 4));
        // The crash state: the checkpoints as the run left them (a clean stop would write new ones).
        const checkpoints = await Promise.all(written.map((_, p) => fs.readFile(checkpointPath(id, p))));
        await server.stop();
        server = undefined;
        await forgetCleanShutdown(env.dataDir);

        const torn: number[] = [];
        const details: string[] = [];
        for (let p = 0; p < PARTITIONS; p++) {
          const end = written[p]!.length;
          let setup: string;
          if (mode === 'fresh-checkpoint') {
            await fs.writeFile(checkpointPath(id, p), checkpoints[p]!);
            const at = (JSON.parse(checkpoints[p]!.toString()) as { recoveryPosition?: { offset: number } })
              .recoveryPosition;
            expect(at, `p${p}: a checkpoint with a resume position`).toBeDefined();
            expect(at!.offset).toBeLessThanOrEqual(end);
            ackedAboveCheckpoint += end - at!.offset;
            setup = `checkpoint at offset ${at!.offset}`;
          } else if (p % 2 === 0) {
            await fs.rm(checkpointPath(id, p));
            setup = 'no checkpoint file';
          } else {
            const point = between(rnd, 0, end);
            await setRecoveryPoint(path.join(env.dataDir, id, String(p)), 0, point);
            setup = `checkpoint without a position, recovery point ${point}`;
          }
          const kind = TAIL_DAMAGES[(round * PARTITIONS + p) % TAIL_DAMAGES.length]!;
          byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
          const files = await segmentFiles(env.dataDir, id, p);
          const spans = (await Promise.all(files.map(batchSpans))).flat();
          expect(spans.at(-1)!.endOffset).toBe(end);
          const tear = await tearUnacknowledged(files.at(-1)!, spans, kind, rnd);
          torn.push(tear.bytes);
          details.push(`p${p} ${setup}, ${kind}: ${tear.detail}; ${end} records acknowledged`);
          cases++;
        }

        server = await startTestServer(env);
        const recovery = server.services.recovery;
        recoveryMsMax = Math.max(recoveryMsMax, recovery.durationMs);
        expect(recovery.cleanShutdown).toBe(false);
        expect(recovery.quarantined).toEqual([]);
        for (let p = 0; p < PARTITIONS; p++) {
          const why = `${details[p]} (seed ${seed})`;
          const want = written[p]!;
          const { records, endOffset } = await readPartition(server.client, topic, p);
          const seen = new Map<number, number>();
          for (const r of records) seen.set((r.value as Value).i, (seen.get((r.value as Value).i) ?? 0) + 1);
          acked += want.length;
          lost += want.filter((v) => !seen.has(v.i)).length;
          dup += [...seen.values()].reduce((n, c) => n + c - 1, 0);
          gaps += offsetGaps(records);
          // Exactly the acknowledged records, byte-identical values, at dense offsets: nothing lost, nothing corrupt.
          expect(endOffset, why).toBe(want.length);
          expect(
            records.map((r) => r.value),
            why,
          ).toEqual(want);
          expect(offsetGaps(records), why).toBe(0);
          // Exactly the torn bytes were cut, and the files hold exactly the acknowledged batches.
          const cut = recovery.truncated.find((t) => t.topicId === id && t.partition === p);
          expect(cut?.bytes, why).toBe(torn[p]);
          truncatedReported += cut?.bytes ?? 0;
          const spans = (await Promise.all((await segmentFiles(env.dataDir, id, p)).map(batchSpans))).flat();
          expect(spans.at(-1)?.endOffset ?? 0, why).toBe(want.length);
          // The partition takes writes again right after them, densely.
          const res = expectStatus(
            await server.client.post('/v1/topics/{topic}/records', {
              params: { topic },
              body: { records: [{ partition: p, value: 'after' }] },
            }),
            200,
          );
          expect(res.offsets[0]!.offset, why).toBe(want.length);
        }
        expect((await server.client.get('/readyz')).status).toBe(200);
      }
      // The tears landed above acknowledged records the checkpoint did not cover, as after a real crash.
      if (mode === 'fresh-checkpoint') expect(ackedAboveCheckpoint).toBeGreaterThan(0);
      report('torn_tail', {
        mode: mode.replace('-', '_'),
        cases,
        ...Object.fromEntries([...byKind].map(([k, n]) => [k.replace('-', '_'), n])),
        acked,
        lost,
        dup,
        gaps,
        ...(mode === 'fresh-checkpoint' && { acked_above_checkpoint: ackedAboveCheckpoint }),
        truncated_bytes: truncatedReported,
        corrupt_served: 0,
        crashes: 0,
        recovery_ms_max: recoveryMsMax,
        seed,
      });
      await fs.access(env.dataDir);
    }, 600_000);
  }
});
