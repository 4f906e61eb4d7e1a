// Scenario 6: consumer-group consume — N records pre-produced to 4 partitions, then 1, 2 and 4
// members of a fresh group (auto-commit) fetch until all are consumed; records/s per group size.
// Skipped with a reason when the groups API isn't there (probed, not assumed).
import type { Dispatcher } from 'undici';
import { uniqueName, type Scenario } from '../lib/context.js';
import { closedLoop, createPool, requestJson } from '../lib/load.js';
import { sluiceJsonBody, timestampsIn, values } from '../lib/records.js';
import type { Row, ScenarioResult } from '../lib/report.js';

const PARTITIONS = 4;
const BATCH = 5000;

/** Does the server have the groups API? A missing route 404s without a *_not_found code of ours. */
async function groupsAvailable(pool: Dispatcher): Promise<string | null> {
  const res = await requestJson<{ error?: { code?: string } } | null>(
    pool,
    { method: 'POST', path: `/v1/groups/${uniqueName('probe')}/members`, body: JSON.stringify({ topics: [uniqueName('missing')] }) },
    [400, 404, 405, 409, 422],
  );
  if (res.status === 405) return 'POST /v1/groups/{group}/members answers 405';
  if (res.status === 404 && res.body?.error?.code !== 'topic_not_found') return `POST /v1/groups/{group}/members answers 404 ${res.body?.error?.code ?? ''}`.trim();
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
    (await requestJson<{ member_id: string }>(pool, { method: 'POST', path: `/v1/groups/${group}/members`, body: JSON.stringify({ topics: [topic], auto_offset_reset: 'earliest', auto_commit: true }) })).body.member_id;
  const ids: string[] = [];
  for (let i = 0; i < members; i++) ids.push(await join());
  let consumed = 0;
  let fetches = 0;
  let rejoins = 0;
  const t0 = performance.now();
  const deadline = t0 + 120_000;
  await Promise.all(
    ids.map(async (first) => {
      let id = first;
      while (consumed < total && performance.now() < deadline) {
        const res = await pool.request({ method: 'GET', path: `/v1/groups/${group}/members/${id}/records?max_records=10000&max_bytes=${8 * 1024 * 1024}&wait_ms=200` });
        const body = await res.body.text();
        fetches++;
        if (res.statusCode === 409) {
          rejoins++;
          id = await join();
          continue;
        }
        if (res.statusCode !== 200) throw new Error(`group fetch → ${res.statusCode}: ${body.slice(0, 300)}`);
        consumed += timestampsIn(body).length;
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
      if (missing) return { id: 'groups', title: 'Consumer-group consume', rows: [], skipped: [`not available (${missing})`], details: {} };
      const total = ctx.quick ? 100_000 : 500_000;
      const topic = uniqueName('groups');
      await requestJson(pool, { method: 'POST', path: '/v1/topics', body: JSON.stringify({ name: topic, partitions: PARTITIONS, config: { durability: 'write' } }) });
      const body = sluiceJsonBody(values(BATCH));
      const load = await closedLoop(pool, total / BATCH, 4, () => ({ method: 'POST', path: `/v1/topics/${topic}/records`, headers: { 'content-type': 'application/json' }, body }));
      if (load.errors) throw new Error(`loading failed: ${load.firstError}`);
      const details: Record<string, unknown> = { records: total, partitions: PARTITIONS };
      const rows: Row[] = [];
      const skipped: string[] = [];
      for (const members of [1, 2, 4]) {
        const r = await consumeWithGroup(pool, topic, members, total);
        details[`members_${members}`] = r;
        ctx.log(`group of ${members}: ${Math.round(r.recPerSec)} rec/s (${r.consumed} records, ${r.fetches} fetches, ${r.rejoins} rejoins)`);
        const complete = r.consumed >= total;
        if (!complete) skipped.push(`${members} member(s): consumed ${r.consumed}/${total} within 120 s`);
        rows.push({ scenario: `group consume ${total / 1000}k records, ${PARTITIONS} partitions, ${members} member${members > 1 ? 's' : ''}`, metric: 'records/s (auto-commit)', unit: 'rec/s', sluice: complete ? r.recPerSec : null });
      }
      const result: ScenarioResult = { id: 'groups', title: 'Consumer-group consume', rows, details };
      if (skipped.length) result.skipped = skipped;
      return result;
    } finally {
      await pool.close();
    }
  },
};
