// Scenario 7: restart after kill -9 — fill 100 partitions to a size, SIGKILL, start again on
// the same DATA_DIR and time until /readyz; check nothing acknowledged was lost; RSS at two sizes.
import type { Dispatcher } from 'undici';
import { uniqueName, type Scenario } from '../lib/context.js';
import { closedLoop, createPool, requestJson } from '../lib/load.js';
import { sleep } from '../lib/processes.js';
import { sluiceJsonBody, values } from '../lib/records.js';
import { bound, versus, type Row, type ScenarioResult } from '../lib/report.js';
import { startSluice, stopSluice, type SluiceServer } from '../lib/sluice-server.js';

const PARTITIONS = 100;
const RECORD_BYTES = 1000;
const RECORDS_PER_REQUEST = 1000;
const MiB = 1024 * 1024;
const GB = 1e9;

interface Stage {
  targetBytes: number;
  sizeBytes: number;
  records: number;
  restartMs: number;
  /** Log bytes the start read and CRC-checked (from its unclean-start log line); null when not found. */
  scannedBytes: number | null;
  /** How long the log store's open (recovery) took, of restartMs. */
  logRecoveryMs: number | null;
  recordsAfter: number;
  rssIdleMiB: number;
}

async function topicTotals(pool: Dispatcher, topic: string): Promise<{ records: number; bytes: number }> {
  const { body } = await requestJson<{
    partitions: Array<{ end_offset: number; start_offset: number; size_bytes: number }>;
  }>(pool, { method: 'GET', path: `/v1/topics/${topic}` });
  return body.partitions.reduce(
    (a, p) => ({ records: a.records + p.end_offset - p.start_offset, bytes: a.bytes + p.size_bytes }),
    { records: 0, bytes: 0 },
  );
}

/** A number of the server's "log store opened after an unclean shutdown" line, if still in its output tail. */
function recoveryField(server: SluiceServer, field: 'scannedBytes' | 'durationMs'): number | null {
  const m = new RegExp(`"${field}":(\\d+)`).exec(server.child.tail());
  return m ? Number(m[1]) : null;
}

/** Stage sizes: quick 100 MB → 200 MB; full BENCH_RESTART_GB (default "1,10"). */
function stageSizes(quick: boolean): number[] {
  if (quick) return [100e6, 200e6];
  const spec = process.env['BENCH_RESTART_GB'] ?? '1,10';
  return spec
    .split(',')
    .map((s) => Number(s) * GB)
    .filter((n) => n > 0);
}

export const restart: Scenario = {
  id: 'restart',
  title: 'Restart after kill -9',
  run: async (ctx) => {
    const sizes = stageSizes(ctx.quick);
    const details: Record<string, unknown> = {
      partitions: PARTITIONS,
      record_bytes: RECORD_BYTES,
      durability: 'write',
    };
    const skipped: string[] = [];
    let server: SluiceServer = await startSluice();
    const dataDir = server.dataDir;
    // Fixed cost: restart an empty store the same way.
    await server.child.stop('SIGKILL');
    server = await startSluice({ dataDir });
    const emptyRestartMs = server.readyMs;
    details['empty_restart_ms'] = emptyRestartMs;
    ctx.log(`restart: empty store ready in ${Math.round(emptyRestartMs)} ms`);

    const stages: Stage[] = [];
    const topic = uniqueName('restart');
    const body = sluiceJsonBody(values(RECORDS_PER_REQUEST, 0, RECORD_BYTES));
    try {
      let pool = createPool(server.url, 4);
      await requestJson(pool, {
        method: 'POST',
        path: '/v1/topics',
        body: JSON.stringify({ name: topic, partitions: PARTITIONS, config: { durability: 'write' } }),
      });
      for (const target of sizes) {
        let have = (await topicTotals(pool, topic)).bytes;
        const f0 = performance.now();
        while (have < target) {
          const need = Math.ceil((target - have) / body.length);
          const r = await closedLoop(pool, Math.min(need, 200), 4, () => ({
            method: 'POST',
            path: `/v1/topics/${topic}/records`,
            headers: { 'content-type': 'application/json' },
            body,
          }));
          if (r.errors) throw new Error(`fill failed: ${r.firstError}`);
          have = (await topicTotals(pool, topic)).bytes;
        }
        const before = await topicTotals(pool, topic);
        ctx.log(
          `restart: filled ${(before.bytes / MiB).toFixed(0)} MiB (${before.records} records) in ${Math.round(performance.now() - f0)} ms; kill -9`,
        );
        await pool.close();
        await server.child.stop('SIGKILL');
        server = await startSluice({ dataDir });
        const scanned = recoveryField(server, 'scannedBytes');
        const recoveryMs = recoveryField(server, 'durationMs');
        pool = createPool(server.url, 4);
        const after = await topicTotals(pool, topic);
        await sleep(1500);
        const rss = server.child.rssBytes() / MiB;
        stages.push({
          targetBytes: target,
          sizeBytes: before.bytes,
          records: before.records,
          restartMs: server.readyMs,
          scannedBytes: scanned,
          logRecoveryMs: recoveryMs,
          recordsAfter: after.records,
          rssIdleMiB: rss,
        });
        ctx.log(
          `restart: ready in ${Math.round(server.readyMs)} ms, ${after.records}/${before.records} records, scanned ${scanned === null ? '?' : (scanned / MiB).toFixed(1)} MiB in a ${recoveryMs ?? '?'} ms log recovery, RSS ${rss.toFixed(0)} MiB`,
        );
      }
      await pool.close();
    } finally {
      await stopSluice(server);
    }
    details['stages'] = stages;
    details['scanned_bytes'] = stages.map((s) => s.scannedBytes);

    const rows: Row[] = [];
    const label = (b: number) => (b >= GB ? `${(b / GB).toFixed(1)} GB` : `${Math.round(b / 1e6)} MB`);
    for (const s of stages) {
      const scenario = `restart after kill -9, ${label(s.sizeBytes)} in ${PARTITIONS} partitions`;
      const row = versus({
        scenario,
        metric: 'time to /readyz',
        unit: 's',
        sluice: s.restartMs / 1000,
        other: { name: 'same server, empty store', value: emptyRestartMs / 1000 },
      });
      rows.push({ ...bound(row, '≤', 3), ratio: row.ratio ?? null });
      if (s.recordsAfter !== s.records)
        skipped.push(`${label(s.sizeBytes)}: ${s.recordsAfter}/${s.records} acknowledged records after restart`);
    }
    const [small, large] = [stages[0], stages[stages.length - 1]];
    if (small && large && large !== small) {
      const scenario = `idle RSS after restart, ${label(large.sizeBytes)} vs ${label(small.sizeBytes)} retained`;
      rows.push(
        versus(
          {
            scenario,
            metric: 'RSS',
            unit: 'MiB',
            sluice: large.rssIdleMiB,
            other: { name: `at ${label(small.sizeBytes)}`, value: small.rssIdleMiB },
          },
          0,
          '≤ 1.2× (flat)',
        ),
      );
      const last = rows[rows.length - 1];
      if (last && typeof last.ratio === 'number') last.met = last.ratio <= 1.2;
    }
    if (ctx.quick)
      skipped.push(
        'RSS at 1 GB vs 10 GB retained runs in full mode (BENCH_RESTART_GB, default "1,10"); quick mode compares 100 MB vs 200 MB',
      );
    const result: ScenarioResult = { id: 'restart', title: 'Restart after kill -9', rows, details };
    if (skipped.length) result.skipped = skipped;
    return result;
  },
};
