// Scenario 2: single-record produce — max req/s with a few connections (vs a bare hono
// hello-world and Durable Streams), then p50/p99 at half that load in an open loop.
import { uniqueName, type Scenario } from '../lib/context.js';
import { closedLoop, createPool, openLoop, requestJson, type LoadResult, type RequestSpec } from '../lib/load.js';
import { durableStreamsBody, sluiceJsonBody, valueJson } from '../lib/records.js';
import { bound, versus, type Row, type ScenarioResult } from '../lib/report.js';

const CONNECTIONS = 8;

export const produceSingle: Scenario = {
  id: 'produce-single',
  title: 'Single-record produce',
  run: async (ctx) => {
    const requests = ctx.quick ? 3000 : 20_000;
    const halfLoadMs = ctx.quick ? 3000 : 15_000;
    const budgetMs = ctx.quick ? 3000 : 20_000;
    const details: Record<string, unknown> = { connections: CONNECTIONS, max_requests: requests, budget_ms: budgetMs };
    const skipped: string[] = [];
    const ok = (r: LoadResult | undefined) => (r && r.errors === 0 ? r.reqPerSec : null);

    const pool = createPool(ctx.sluice.url, CONNECTIONS);
    const topic = uniqueName('ps');
    await requestJson(pool, {
      method: 'POST',
      path: '/v1/topics',
      body: JSON.stringify({ name: topic, partitions: 4 }),
    });
    const spec = (i: number): RequestSpec => ({
      method: 'POST',
      path: `/v1/topics/${topic}/records`,
      headers: { 'content-type': 'application/json' },
      body: sluiceJsonBody([valueJson(i)]),
    });
    await closedLoop(pool, 200, CONNECTIONS, spec, 1000);
    const max = await closedLoop(pool, requests, CONNECTIONS, spec, budgetMs);
    ctx.log(
      `sluice single: ${Math.round(max.reqPerSec)} req/s p99 ${max.latency.p99Ms} ms${max.errors ? ` (${max.errors} errors: ${max.firstError})` : ''}`,
    );
    const rate = Math.max(10, Math.round(max.reqPerSec / 2));
    const half = await openLoop(pool, rate, halfLoadMs, spec);
    ctx.log(`sluice single at ${rate} req/s: p50 ${half.latency.p50Ms} p99 ${half.latency.p99Ms} ms`);
    await pool.close();
    details['sluice_max'] = max;
    for (const [what, r] of [
      ['max load', max],
      ['half load', half],
    ] as const) {
      if (r.errors) skipped.push(`sluice ${what}: ${r.errors}/${r.requests} requests failed: ${r.firstError}`);
    }
    details['sluice_half_load'] = { rate, ...half };

    let hello: LoadResult | undefined;
    if (ctx.ceiling) {
      const p = createPool(ctx.ceiling.url, CONNECTIONS);
      const s = (): RequestSpec => ({ method: 'GET', path: '/hello' });
      await closedLoop(p, 200, CONNECTIONS, s, 1000);
      hello = await closedLoop(p, requests, CONNECTIONS, s, budgetMs);
      await p.close();
      details['hello_world'] = hello;
      ctx.log(`hono hello-world: ${Math.round(hello.reqPerSec)} req/s`);
    } else skipped.push('hello-world ceiling server did not start');

    let ds: LoadResult | undefined;
    if (ctx.ds) {
      const p = createPool(ctx.ds.url, CONNECTIONS);
      const stream = `/bench/${uniqueName('ps')}`;
      await requestJson(p, { method: 'PUT', path: stream }, [200, 201]);
      const s = (i: number): RequestSpec => ({
        method: 'POST',
        path: stream,
        headers: { 'content-type': 'application/json' },
        body: durableStreamsBody([valueJson(i)]),
      });
      await closedLoop(p, 200, CONNECTIONS, s, 1000);
      ds = await closedLoop(p, requests, CONNECTIONS, s, budgetMs);
      await p.close();
      details['durable_streams'] = ds;
      ctx.log(`durable-streams single: ${Math.round(ds.reqPerSec)} req/s`);
    } else skipped.push(`Durable Streams: ${ctx.dsSkip ?? 'not started'}`);

    const scenario = `produce 1 record/request, fsync, ${CONNECTIONS} conns`;
    const rows: Row[] = [
      versus({
        scenario,
        metric: 'requests/s',
        unit: 'req/s',
        sluice: ok(max),
        other: { name: 'hono hello-world', value: ok(hello) },
      }),
      versus({
        scenario,
        metric: 'requests/s',
        unit: 'req/s',
        sluice: ok(max),
        other: { name: 'Durable Streams, fsync', value: ok(ds) },
      }),
      { scenario, metric: 'p50 at max load', unit: 'ms', sluice: max.latency.p50Ms },
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
