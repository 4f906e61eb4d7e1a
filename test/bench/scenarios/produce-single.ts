// Scenario 2: single-record produce — max req/s with a few connections (vs a bare hono
// hello-world and Durable Streams), then p50/p99 at half that load in an open loop.
import { uniqueName, type Scenario } from '../lib/context.js';
import { closedLoop, createPool, openLoop, requestJson, type RequestSpec } from '../lib/load.js';
import { alternate, firstFailure, overallRate, ratioSpread, roundPlan, type Phase } from '../lib/rounds.js';
import { durableStreamsBody, sluiceJsonBody, valueJson } from '../lib/records.js';
import { bound, versus, withSpread, type Row, type ScenarioResult } from '../lib/report.js';

const CONNECTIONS = 8;

export const produceSingle: Scenario = {
  id: 'produce-single',
  title: 'Single-record produce',
  run: async (ctx) => {
    const plan = roundPlan(ctx.quick);
    const halfLoadMs = ctx.quick ? 3000 : 15_000;
    const details: Record<string, unknown> = { connections: CONNECTIONS, rounds: plan.rounds, phase_ms: plan.phaseMs };
    const skipped: string[] = [];

    const pool = createPool(ctx.sluice.url, CONNECTIONS);
    const topic = uniqueName('ps');
    await requestJson(pool, {
      method: 'POST',
      path: '/v1/topics',
      body: JSON.stringify({ name: topic, partitions: 4 }),
    });
    let seq = 0;
    const spec = (): RequestSpec => ({
      method: 'POST',
      path: `/v1/topics/${topic}/records`,
      headers: { 'content-type': 'application/json' },
      body: sluiceJsonBody([valueJson(seq++)]),
    });
    const phases: Phase[] = [{ name: 'sluice', pool, concurrency: CONNECTIONS, make: spec }];
    const pools = [pool];
    if (ctx.ceiling) {
      const p = createPool(ctx.ceiling.url, CONNECTIONS);
      pools.push(p);
      phases.push({
        name: 'hello-world',
        pool: p,
        concurrency: CONNECTIONS,
        make: () => ({ method: 'GET', path: '/hello' }),
      });
    } else skipped.push('hello-world ceiling server did not start');
    if (ctx.ds) {
      const p = createPool(ctx.ds.url, CONNECTIONS);
      pools.push(p);
      const stream = `/bench/${uniqueName('ps')}`;
      await requestJson(p, { method: 'PUT', path: stream }, [200, 201]);
      let dsSeq = 0;
      phases.push({
        name: 'durable-streams',
        pool: p,
        concurrency: CONNECTIONS,
        make: () => ({
          method: 'POST',
          path: stream,
          headers: { 'content-type': 'application/json' },
          body: durableStreamsBody([valueJson(dsSeq++)]),
        }),
      });
    } else skipped.push(`Durable Streams: ${ctx.dsSkip ?? 'not started'}`);
    for (const p of phases) await closedLoop(p.pool, 200, CONNECTIONS, p.make, 1000);
    const { results } = await alternate(phases, plan, ctx.log);
    details['rounds_results'] = results;
    for (const [name, rs] of Object.entries(results)) {
      const why = firstFailure(rs);
      if (why) skipped.push(`${name}: ${why}`);
    }
    const mine = overallRate(results['sluice']);
    const p50s = (results['sluice'] ?? []).map((r) => r.latency.p50Ms).sort((a, b) => a - b);
    ctx.log(`sluice single: ${Math.round(mine ?? 0)} req/s over ${plan.rounds} rounds`);

    const rate = Math.max(10, Math.round((mine ?? 20) / 2));
    const half = await openLoop(pool, rate, halfLoadMs, spec);
    ctx.log(`sluice single at ${rate} req/s: p50 ${half.latency.p50Ms} p99 ${half.latency.p99Ms} ms`);
    for (const p of pools) await p.close();
    if (half.errors)
      skipped.push(`sluice half load: ${half.errors}/${half.requests} requests failed: ${half.firstError}`);
    details['sluice_half_load'] = { rate, ...half };

    const scenario = `produce 1 record/request, fsync, ${CONNECTIONS} conns`;
    const rows: Row[] = [
      withSpread(
        versus(
          {
            scenario,
            metric: 'requests/s',
            unit: 'req/s',
            sluice: mine,
            other: { name: 'hono hello-world', value: overallRate(results['hello-world']) },
          },
          0.5,
          '≥ 0.5× hello-world',
        ),
        ratioSpread(results['sluice'], results['hello-world']),
      ),
      withSpread(
        versus({
          scenario,
          metric: 'requests/s',
          unit: 'req/s',
          sluice: mine,
          other: { name: 'Durable Streams, fsync', value: overallRate(results['durable-streams']) },
        }),
        ratioSpread(results['sluice'], results['durable-streams']),
      ),
      {
        scenario,
        metric: 'p50 at max load (median round)',
        unit: 'ms',
        sluice: p50s.length ? p50s[Math.floor(p50s.length / 2)]! : null,
      },
      {
        scenario: `produce 1 record/request at half load (${rate} req/s)`,
        metric: 'p50',
        unit: 'ms',
        sluice: half.latency.p50Ms,
      },
      bound(
        {
          scenario: `produce 1 record/request at half load (${rate} req/s)`,
          metric: 'p99',
          unit: 'ms',
          sluice: half.errors ? null : half.latency.p99Ms,
        },
        '≤',
        20,
      ),
    ];
    const result: ScenarioResult = { id: 'produce-single', title: 'Single-record produce', rows, details };
    if (skipped.length) result.skipped = skipped;
    return result;
  },
};
