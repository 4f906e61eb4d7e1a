// The records every system is fed: JSON values of ~100 bytes carrying a send timestamp and a
// sequence number, rendered as Sluice JSON/NDJSON bodies, Durable Streams arrays or Kafka values.
import { nowMs } from './histogram.js';

export const RECORD_VALUE_BYTES = 100;

export interface BenchValue {
  ts: number;
  seq: number;
  pad: string;
}

/** A value whose JSON is RECORD_VALUE_BYTES long (±1), so all peers carry the same bytes. */
export function makeValue(seq: number, ts = nowMs(), bytes = RECORD_VALUE_BYTES): BenchValue {
  const base = JSON.stringify({ ts, seq, pad: '' }).length;
  return { ts, seq, pad: 'x'.repeat(Math.max(0, bytes - base)) };
}

export function valueJson(seq: number, ts?: number, bytes?: number): string {
  return JSON.stringify(makeValue(seq, ts, bytes));
}

/** `{"records":[{"value":…},…]}` — Sluice's JSON produce body. */
export function sluiceJsonBody(values: string[], partition?: number): string {
  const p = partition === undefined ? '' : `,"partition":${partition}`;
  return `{"records":[${values.map((v) => `{"value":${v}${p}}`).join(',')}]}`;
}

/** One record object per line — Sluice's NDJSON produce body. */
export function sluiceNdjsonBody(values: string[], partition?: number): string {
  const p = partition === undefined ? '' : `,"partition":${partition}`;
  return values.map((v) => `{"value":${v}${p}}\n`).join('');
}

/** A JSON array of values — a Durable Streams JSON-mode append (each element one message). */
export function durableStreamsBody(values: string[]): string {
  return `[${values.join(',')}]`;
}

export function values(count: number, startSeq = 0, bytes?: number): string[] {
  const ts = nowMs();
  return Array.from({ length: count }, (_, i) => valueJson(startSeq + i, ts, bytes));
}

const TS_RE = /"ts":(\d+(?:\.\d+)?)/g;

/** Every send timestamp in a chunk of text (SSE frames, JSON bodies), without a JSON parse. */
export function timestampsIn(text: string): number[] {
  const out: number[] = [];
  TS_RE.lastIndex = 0;
  for (let m = TS_RE.exec(text); m !== null; m = TS_RE.exec(text)) out.push(Number(m[1]));
  return out;
}
