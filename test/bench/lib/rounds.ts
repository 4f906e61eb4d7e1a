// Side-by-side measurement on a noisy shared machine: every system runs in each round, for a
// fixed time per phase, in a rotated order; ratios come with the min–max of the per-round ratios.
import { closedLoop, type LoadResult, type RequestSpec } from './load.js';
import type { Dispatcher } from 'undici';

/** One system under load in a round: a closed loop on `pool` for the phase's time. */
export interface Phase {
  name: string;
  pool: Dispatcher;
  concurrency: number;
  make: (i: number) => RequestSpec;
}

export interface Rounds {
  rounds: number;
  phaseMs: number;
  /** Per phase name, one result per round (in round order). */
  results: Record<string, LoadResult[]>;
}

/** Phase length and round count: long enough that one phase is not a handful of requests. */
export function roundPlan(quick: boolean): { rounds: number; phaseMs: number } {
  const rounds = Number(process.env['BENCH_ROUNDS'] ?? (quick ? 3 : 5));
  const phaseMs = Number(process.env['BENCH_PHASE_MS'] ?? (quick ? 1500 : 4000));
  return { rounds: Math.max(1, rounds), phaseMs: Math.max(200, phaseMs) };
}

/**
 * Runs every phase once per round, round r starting at phase r mod n, so drifts in machine
 * load (other work on the shared cores) hit all systems alike instead of the last one run.
 */
export async function alternate(
  phases: Phase[],
  plan: { rounds: number; phaseMs: number },
  log: (m: string) => void,
): Promise<Rounds> {
  const results: Record<string, LoadResult[]> = {};
  for (const p of phases) results[p.name] = [];
  for (let r = 0; r < plan.rounds; r++) {
    const line: string[] = [];
    for (let k = 0; k < phases.length; k++) {
      const p = phases[(r + k) % phases.length]!;
      const res = await closedLoop(p.pool, Number.MAX_SAFE_INTEGER, p.concurrency, p.make, plan.phaseMs);
      results[p.name]!.push(res);
      line.push(`${p.name} ${Math.round(res.reqPerSec)}/s${res.errors ? ` (${res.errors} errors)` : ''}`);
    }
    log(`round ${r + 1}/${plan.rounds}: ${line.join(', ')}`);
  }
  return { ...plan, results };
}

/** Successful requests per second over all rounds; null if any request failed or none ran. */
export function overallRate(rs: LoadResult[] | undefined): number | null {
  if (!rs || rs.length === 0) return null;
  let ok = 0;
  let ms = 0;
  for (const r of rs) {
    if (r.errors) return null;
    ok += r.requests - r.errors;
    ms += r.elapsedMs;
  }
  return ms > 0 ? (ok / ms) * 1000 : null;
}

/** Min and max of the per-round ratios a[r] ÷ b[r] (rounds where either failed are left out). */
export function ratioSpread(a: LoadResult[] | undefined, b: LoadResult[] | undefined): [number, number] | undefined {
  if (!a || !b) return undefined;
  const ratios: number[] = [];
  for (let r = 0; r < Math.min(a.length, b.length); r++) {
    const x = a[r]!;
    const y = b[r]!;
    if (x.errors || y.errors || y.reqPerSec <= 0) continue;
    ratios.push(x.reqPerSec / y.reqPerSec);
  }
  return ratios.length ? [Math.min(...ratios), Math.max(...ratios)] : undefined;
}

/** First failure among the rounds, to say why a system's row is empty. */
export function firstFailure(rs: LoadResult[] | undefined): string | undefined {
  const bad = rs?.find((r) => r.errors > 0);
  return bad ? `${bad.errors}/${bad.requests} requests failed: ${bad.firstError}` : undefined;
}
