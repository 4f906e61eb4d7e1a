// Scenario 6: consumer-group consume — N records pre-produced to 4 partitions, then 1, 2 and 4
// members of a fresh group (auto-commit) fetch until all are consumed; records/s per group size.
// Skipped with a reason when the groups API isn't there (probed, not assumed).
import type { Dispatcher } from 'undici';
import { uniqueName, type BenchContext, type Scenario } from '../lib/context.js';
import { createPool, requestJson } from '../lib/load.js';
import { timestampsIn, values } from '../lib/records.js';
import { versus, type Row, type ScenarioResult } from '../lib/report.js';
import { loadedTopic } from '../lib/topics.js';
import { ensureKafka, startKafka, type KafkaPeer } from '../peers/kafka.js';
import { kafkaGroupConsume, type KafkaGroupRun } from '../peers/kafka-groups.js';

const PARTITIONS = 4;
const BATCH = 5000;

/** Does the server have the groups API? A missing route 404s without a *_not_found code of ours. */
async function groupsAvailable(pool: Dispatcher): Promise<string | null> {
  const res = await requestJson<{ error?: { code?: string } } | null>(
    pool,
    {
      method: 'POST',
      path: `/v1/groups/${uniqueName('probe')}/members`,
      body: JSON.stringify({ topics: [uniqueName('missing')] }),
    },
    [400, 404, 405, 409, 422],
  );
  if (res.status === 405) return 'POST /v1/groups/{group}/members answers 405';
  if (res.status === 404 && res.body?.error?.code !== 'topic_not_found')
    return `POST /v1/groups/{group}/members answers 404 ${res.body?.error?.code ?? ''}`.trim();
  return null;
}

interface GroupRun {
  members: number;
  consumed: number;
  elapsedMs: number;
  recPerSec: number;
  fetches: number;
  rejoins: number;
}

async function consumeWithGroup(pool: Dispatcher, topic: string, members: number, total: number): Promise<GroupRun> {
  const group = uniqueName(`g${members}`);
  const join = async () =>
    (
      await requestJson<{ member_id: string }>(pool, {
        method: 'POST',
        path: `/v1/groups/${group}/members`,
        body: JSON.stringify({ topics: [topic], auto_offset_reset: 'earliest', auto_commit: true }),
      })
    ).body.member_id;
  // Timed from the first join, as the Kafka peer is: joining and rebalancing are part of it.
  const t0 = performance.now();
  const ids: string[] = [];
  for (let i = 0; i < members; i++) ids.push(await join());
  let consumed = 0;
  let fetches = 0;
  let rejoins = 0;
  const deadline = t0 + 120_000;
  await Promise.all(
    ids.map(async (first) => {
      let id = first;
      let cursor = '';
      while (consumed < total && performance.now() < deadline) {
        // Naming the previous answer's cursor confirms it (and auto-commits it).
        const res = await pool.request({
          method: 'GET',
          path: `/v1/groups/${group}/members/${id}/records?max_records=10000&max_bytes=${8 * 1024 * 1024}&wait_ms=200${cursor}`,
        });
        const body = await res.body.text();
        fetches++;
        if (res.statusCode === 409) {
          rejoins++;
          id = await join();
          cursor = '';
          continue;
        }
        if (res.statusCode !== 200) throw new Error(`group fetch → ${res.statusCode}: ${body.slice(0, 300)}`);
        consumed += timestampsIn(body).length;
        cursor = `&cursor=${/"cursor":"([^"]*)"}$/.exec(body)?.[1] ?? ''}`;
      }
      await pool.request({ method: 'DELETE', path: `/v1/groups/${group}/members/${id}` }).then((r) => r.body.dump());
    }),
  );
  const elapsedMs = performance.now() - t0;
  return { members, consumed, elapsedMs, recPerSec: consumed / (elapsedMs / 1000), fetches, rejoins };
}

export const groups: Scenario = {
  id: 'groups',
  title: 'Consumer-group consume',
  run: async (ctx) => {
    const pool = createPool(ctx.sluice.url, 8);
    try {
      const missing = await groupsAvailable(pool);
      if (missing)
        return {
          id: 'groups',
          title: 'Consumer-group consume',
          rows: [],
          skipped: [`not available (${missing})`],
          details: {},
        };
      const total = ctx.quick ? 100_000 : 500_000;
      const { topic } = await loadedTopic(pool, { prefix: 'groups', partitions: PARTITIONS, total, batch: BATCH });
      const details: Record<string, unknown> = { records: total, partitions: PARTITIONS };
      const rows: Row[] = [];
      const skipped: string[] = [];
      for (const members of [1, 2, 4]) {
        const r = await consumeWithGroup(pool, topic, members, total);
        details[`members_${members}`] = r;
        ctx.log(
          `group of ${members}: ${Math.round(r.recPerSec)} rec/s (${r.consumed} records, ${r.fetches} fetches, ${r.rejoins} rejoins)`,
        );
        const complete = r.consumed >= total;
        if (!complete) skipped.push(`${members} member(s): consumed ${r.consumed}/${total} within 120 s`);
        rows.push({
          scenario: `group consume ${total / 1000}k records, ${PARTITIONS} partitions, ${members} member${members > 1 ? 's' : ''}`,
          metric: 'records/s, fresh group incl. joins (auto-commit)',
          unit: 'rec/s',
          sluice: complete ? r.recPerSec : null,
        });
      }
      const kafka = await kafkaRuns(ctx, total, skipped);
      if (kafka) {
        details['kafka'] = kafka;
        for (const k of kafka) {
          const mine = rows.find((r) => r.scenario.endsWith(`${k.members} member${k.members > 1 ? 's' : ''}`));
          if (!mine) continue;
          rows.push(
            versus({
              scenario: mine.scenario,
              metric: mine.metric,
              unit: 'rec/s',
              sluice: mine.sluice,
              other: { name: 'Kafka, kafkajs group', value: k.consumed >= total ? k.recPerSec : null },
            }),
          );
        }
      }
      const result: ScenarioResult = { id: 'groups', title: 'Consumer-group consume', rows, details };
      if (skipped.length) result.skipped = skipped;
      return result;
    } finally {
      await pool.close();
    }
  },
};

/** The same consumption on Kafka: full mode only (a broker start costs ~10 s), or BENCH_KAFKA_GROUPS=1. */
async function kafkaRuns(ctx: BenchContext, total: number, skipped: string[]): Promise<KafkaGroupRun[] | null> {
  if (ctx.quick && process.env['BENCH_KAFKA_GROUPS'] !== '1') {
    skipped.push('Kafka group peer: full mode only (or BENCH_KAFKA_GROUPS=1)');
    return null;
  }
  if (!ctx.kafka) {
    skipped.push('Kafka group peer: disabled with --no-kafka');
    return null;
  }
  const why = await ensureKafka();
  if (why) {
    skipped.push(`Kafka group peer: ${why}`);
    return null;
  }
  let peer: KafkaPeer | undefined;
  try {
    peer = await startKafka();
    const runs = await kafkaGroupConsume(peer, values(BATCH), total, PARTITIONS, [1, 2, 4]);
    for (const r of runs)
      ctx.log(`kafka group of ${r.members}: ${Math.round(r.recPerSec)} rec/s (${r.consumed} records)`);
    return runs;
  } catch (e) {
    skipped.push(`Kafka group peer: ${String(e).split('\n')[0]}`);
    return null;
  } finally {
    await peer?.stop();
  }
}
