// Scenario 6: consumer-group consume — N records pre-produced to 4 partitions, then 1, 2 and 4
// members of a fresh group (auto-commit) fetch until all are consumed; records/s per group size,
// in rounds alternating with kafkajs on Kafka. Skipped with a reason when the groups API isn't there.
import type { Dispatcher } from 'undici';
import { uniqueName, type BenchContext, type Scenario } from '../lib/context.js';
import { createPool, requestJson } from '../lib/load.js';
import { timestampsIn, values } from '../lib/records.js';
import { versus, withSpread, type Row, type ScenarioResult } from '../lib/report.js';
import { roundPlan } from '../lib/rounds.js';
import { loadedTopic } from '../lib/topics.js';
import { ensureKafka, startKafka, type KafkaPeer } from '../peers/kafka.js';
import { kafkaGroupConsume, loadKafkaGroupTopic, type KafkaGroupRun } from '../peers/kafka-groups.js';

const PARTITIONS = 4;
const BATCH = 5000;
const GROUP_SIZES = [1, 2, 4];
/** The target for one member: at least kafkajs's rate on Kafka. */
const ONE_MEMBER_TARGET = 1.0;

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
  /** From the first join request until every member had joined. */
  joinMs: number;
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
  const joinMs = performance.now() - t0;
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
  return { members, consumed, elapsedMs, recPerSec: consumed / (elapsedMs / 1000), fetches, rejoins, joinMs };
}

/** Records per second over every round (total consumed ÷ total time); null if a round fell short. */
function overall(runs: ReadonlyArray<{ consumed: number; elapsedMs: number }>, total: number): number | null {
  if (runs.length === 0 || runs.some((r) => r.consumed < total)) return null;
  return runs.reduce((n, r) => n + r.consumed, 0) / (runs.reduce((ms, r) => ms + r.elapsedMs, 0) / 1000);
}

/** Min–max of the per-round ratios Sluice ÷ Kafka. */
function spreadOf(mine: GroupRun[], theirs: KafkaGroupRun[]): [number, number] | undefined {
  const ratios: number[] = [];
  for (let r = 0; r < Math.min(mine.length, theirs.length); r++) {
    if (theirs[r]!.recPerSec > 0) ratios.push(mine[r]!.recPerSec / theirs[r]!.recPerSec);
  }
  return ratios.length ? [Math.min(...ratios), Math.max(...ratios)] : undefined;
}

export const groups: Scenario = {
  id: 'groups',
  title: 'Consumer-group consume',
  run: async (ctx) => {
    const pool = createPool(ctx.sluice.url, 8);
    let peer: KafkaPeer | undefined;
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
      const { rounds } = roundPlan(ctx.quick);
      const { topic } = await loadedTopic(pool, { prefix: 'groups', partitions: PARTITIONS, total, batch: BATCH });
      const skipped: string[] = [];
      peer = await kafkaPeer(ctx, skipped);
      let kafkaTopic: string | undefined;
      if (peer) {
        try {
          kafkaTopic = await loadKafkaGroupTopic(peer, values(BATCH), total, PARTITIONS);
        } catch (e) {
          skipped.push(`Kafka group peer: ${String(e).split('\n')[0]}`);
        }
      }
      // One uncounted warm-up run each: Sluice's JIT, and Kafka's first group creates its
      // 50-partition __consumer_offsets topic (seconds, once per broker).
      const warm = [`sluice ${Math.round((await consumeWithGroup(pool, topic, 1, total)).recPerSec)}`];
      if (peer && kafkaTopic !== undefined) {
        try {
          warm.push(`kafka ${Math.round((await kafkaGroupConsume(peer, kafkaTopic, total, 1)).recPerSec)}`);
        } catch (e) {
          kafkaTopic = undefined;
          skipped.push(`Kafka group peer: ${String(e).split('\n')[0]}`);
        }
      }
      ctx.log(`warm-up, 1 member (rec/s, not counted): ${warm.join(', ')}`);
      // Alternating rounds: Sluice first in even rounds, Kafka first in odd ones, so load drift
      // on the shared machine hits both alike.
      const mine = new Map<number, GroupRun[]>(GROUP_SIZES.map((m) => [m, []]));
      const theirs = new Map<number, KafkaGroupRun[]>(GROUP_SIZES.map((m) => [m, []]));
      let kafkaFailed = kafkaTopic === undefined;
      for (let r = 0; r < rounds; r++) {
        const line: string[] = [];
        for (const members of GROUP_SIZES) {
          const runSluice = async () => {
            const run = await consumeWithGroup(pool, topic, members, total);
            mine.get(members)!.push(run);
            line.push(`sluice ${members}: ${Math.round(run.recPerSec)}`);
          };
          const runKafka = async () => {
            if (kafkaFailed) return;
            try {
              const run = await kafkaGroupConsume(peer!, kafkaTopic!, total, members);
              theirs.get(members)!.push(run);
              line.push(`kafka ${members}: ${Math.round(run.recPerSec)}`);
            } catch (e) {
              kafkaFailed = true;
              skipped.push(`Kafka group peer: ${String(e).split('\n')[0]}`);
            }
          };
          for (const step of r % 2 === 0 ? [runSluice, runKafka] : [runKafka, runSluice]) await step();
        }
        ctx.log(`round ${r + 1}/${rounds} (rec/s): ${line.join(', ')}`);
      }

      const details: Record<string, unknown> = { records: total, partitions: PARTITIONS, rounds };
      const rows: Row[] = [];
      const sluiceRow = (members: number) => ({
        scenario: `group consume ${total / 1000}k records, ${PARTITIONS} partitions, ${members} member${members > 1 ? 's' : ''}`,
        metric: 'records/s, fresh group incl. joins (auto-commit)',
        unit: 'rec/s' as const,
        sluice: overall(mine.get(members)!, total),
      });
      for (const members of GROUP_SIZES) {
        const runs = mine.get(members)!;
        details[`members_${members}`] = runs;
        const short = runs.find((x) => x.consumed < total);
        if (short) skipped.push(`${members} member(s): consumed ${short.consumed}/${total} within 120 s`);
        rows.push(sluiceRow(members));
      }
      if (!kafkaFailed) {
        details['kafka'] = Object.fromEntries(GROUP_SIZES.map((m) => [`members_${m}`, theirs.get(m)]));
        for (const members of GROUP_SIZES) {
          const k = theirs.get(members)!;
          const row = versus(
            { ...sluiceRow(members), other: { name: 'Kafka, kafkajs group', value: overall(k, total) } },
            members === 1 ? ONE_MEMBER_TARGET : undefined,
          );
          rows.push(withSpread(row, spreadOf(mine.get(members)!, k)));
        }
      }
      const result: ScenarioResult = { id: 'groups', title: 'Consumer-group consume', rows, details };
      if (skipped.length) result.skipped = skipped;
      return result;
    } finally {
      await peer?.stop();
      await pool.close();
    }
  },
};

/** Kafka for the group peer: full mode only (a broker start costs ~10 s), or BENCH_KAFKA_GROUPS=1. */
async function kafkaPeer(ctx: BenchContext, skipped: string[]): Promise<KafkaPeer | undefined> {
  if (ctx.quick && process.env['BENCH_KAFKA_GROUPS'] !== '1') {
    skipped.push('Kafka group peer: full mode only (or BENCH_KAFKA_GROUPS=1)');
    return undefined;
  }
  if (!ctx.kafka) {
    skipped.push('Kafka group peer: disabled with --no-kafka');
    return undefined;
  }
  const why = await ensureKafka();
  if (why) {
    skipped.push(`Kafka group peer: ${why}`);
    return undefined;
  }
  try {
    return await startKafka();
  } catch (e) {
    skipped.push(`Kafka group peer: ${String(e).split('\n')[0]}`);
    return undefined;
  }
}
