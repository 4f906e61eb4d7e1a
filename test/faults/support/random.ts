// A seeded PRNG for fault schedules, so a failing run can be replayed with FAULTS_SEED.
/** mulberry32: small, fast, good enough to pick kill moments and damage positions. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The run's seed: $FAULTS_SEED, else a fresh one (printed in each report line). */
export function runSeed(): number {
  const raw = Number(process.env['FAULTS_SEED']);
  return Number.isInteger(raw) && raw > 0 ? raw : Math.floor(Math.random() * 2 ** 31) + 1;
}

/** Integer in [lo, hi]. */
export const between = (rnd: () => number, lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
