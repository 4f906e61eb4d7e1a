// Fault 2: torn and garbage tails, fuzzed at the server level: stop the server, damage the
// segment files under DATA_DIR/<topic-id>/<p>/ as a crash would, restart, read over HTTP.
import fs from 'node:fs/promises';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectStatus } from '../support/client.js';
import { createTestEnv, startTestServer, type TestEnv, type TestServer } from '../support/server.js';
import { knob, report } from './support/figures.js';
import { readPartition, segmentFiles, topicId } from './support/partition-reader.js';
import { between, runSeed, seededRandom } from './support/random.js';
import {
  batchSpans,
  damageTail,
  forgetCleanShutdown,
  setRecoveryPoint,
  TAIL_DAMAGES,
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

describe('torn and garbage tails (server level)', () => {
  it(`${ROUNDS} rounds × ${PARTITIONS} damaged partitions: no crash, no corrupt record served, cut to the last valid batch`, async () => {
    const byKind = new Map<TailDamage, number>();
    let cases = 0;
    let truncatedReported = 0;
    let recordsCut = 0;
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
      // One produce request per batch, several segments per partition.
      const written: unknown[][] = Array.from({ length: PARTITIONS }, () => []);
      for (let p = 0; p < PARTITIONS; p++) {
        for (let b = between(rnd, 6, 14); b > 0; b--) {
          const records = Array.from({ length: between(rnd, 1, 4) }, () => ({
            partition: p,
            value: { p, i: written[p]!.length, pad: 'x'.repeat(between(rnd, 10, 200)) },
          }));
          const res = expectStatus(
            await server.client.post('/v1/topics/{topic}/records', { params: { topic }, body: { records } }),
            200,
          );
          res.offsets.forEach((o, i) => {
            expect(o.offset).toBe(written[p]!.length);
            written[p]!.push(records[i]!.value);
          });
        }
      }
      await server.stop();
      server = undefined;

      // Damage every partition's tail as a crash would have left it, above its recovery point.
      const expectedEnd: number[] = [];
      const details: string[] = [];
      for (let p = 0; p < PARTITIONS; p++) {
        const kind = TAIL_DAMAGES[(round * PARTITIONS + p) % TAIL_DAMAGES.length]!;
        byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
        const files = await segmentFiles(env.dataDir, id, p);
        const spans = (await Promise.all(files.map(batchSpans))).flat();
        const { validEnd, detail } = await damageTail(spans, kind, rnd);
        await setRecoveryPoint(path.join(env.dataDir, id, String(p)), 0, between(rnd, 0, validEnd));
        expectedEnd.push(validEnd);
        details.push(`p${p} ${kind}: ${detail} → expect end ${validEnd}`);
        cases++;
      }
      await forgetCleanShutdown(env.dataDir);

      server = await startTestServer(env);
      recoveryMsMax = Math.max(recoveryMsMax, server.services.recovery.durationMs);
      expect(server.services.recovery.cleanShutdown).toBe(false);
      expect(server.services.recovery.quarantined).toEqual([]);
      truncatedReported += server.services.recovery.truncated
        .filter((t) => t.topicId === id)
        .reduce((n, t) => n + t.bytes, 0);
      for (let p = 0; p < PARTITIONS; p++) {
        const why = `${details[p]} (seed ${seed})`;
        const { records, endOffset } = await readPartition(server.client, topic, p);
        // Exactly the valid prefix, byte-identical values: nothing corrupt, nothing valid lost.
        expect(endOffset, why).toBe(expectedEnd[p]);
        expect(
          records.map((r) => r.value),
          why,
        ).toEqual(written[p]!.slice(0, expectedEnd[p]));
        recordsCut += written[p]!.length - expectedEnd[p]!;
        // On disk too: the files hold exactly the valid batches.
        const spans = (await Promise.all((await segmentFiles(env.dataDir, id, p)).map(batchSpans))).flat();
        expect(spans.at(-1)?.endOffset ?? 0, why).toBe(expectedEnd[p]);
        // The partition takes writes again at the cut, densely.
        const res = expectStatus(
          await server.client.post('/v1/topics/{topic}/records', {
            params: { topic },
            body: { records: [{ partition: p, value: 'after' }] },
          }),
          200,
        );
        expect(res.offsets[0]!.offset, why).toBe(expectedEnd[p]);
      }
      expect((await server.client.get('/readyz')).status).toBe(200);
    }
    report('torn_tail', {
      cases,
      ...Object.fromEntries([...byKind].map(([k, n]) => [k.replace('-', '_'), n])),
      records_cut: recordsCut,
      truncated_bytes: truncatedReported,
      corrupt_served: 0,
      crashes: 0,
      recovery_ms_max: recoveryMsMax,
      seed,
    });
    await fs.access(env.dataDir);
  }, 600_000);
});
