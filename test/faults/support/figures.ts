// The one-line report every fault test prints (`faults: <name> k=v …`), also appended to
// $FAULTS_REPORT_FILE when set so long runs and the README can collect the figures.
import fs from 'node:fs';

export type Figures = Record<string, number | string | boolean>;

/** Print `faults: <name> k=v …` on stdout (and append it to $FAULTS_REPORT_FILE). */
export function report(name: string, figures: Figures): string {
  const line = `faults: ${name} ${Object.entries(figures)
    .map(([k, v]) => `${k}=${typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(1) : String(v)}`)
    .join(' ')}`;
  process.stdout.write(`${line}\n`);
  const file = process.env['FAULTS_REPORT_FILE'];
  if (file) fs.appendFileSync(file, `${new Date().toISOString()} ${line}\n`);
  return line;
}

/** Whether the long versions run (FAULTS_LONG=1): bigger counts and real outage lengths. */
export const isLong = (): boolean => /^(1|true|yes)$/i.test(process.env['FAULTS_LONG'] ?? '');

/** A numeric knob from the environment, else the bounded or the long default. */
export function knob(name: string, bounded: number, long: number): number {
  const raw = process.env[name];
  if (raw !== undefined && raw !== '' && Number.isFinite(Number(raw))) return Number(raw);
  return isLong() ? long : bounded;
}

/** The q-quantile (0…1) of `values` (nearest rank); 0 for none. */
export function quantile(values: number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** Poll `check` until it returns a value other than undefined, or throw after `timeoutMs`. */
export async function pollUntil<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 15_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
