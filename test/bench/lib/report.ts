// Result rows and their rendering: one side-by-side table (scenario | sluice | baseline/peer |
// ratio | target | met?) for the terminal and README, and the machine-readable JSON file.
import fsp from 'node:fs/promises';
import path from 'node:path';
import { machineLine, type MachineInfo } from './machine.js';

export type Unit = 'rec/s' | 'req/s' | 'MB/s' | 'ms' | 'µs' | 'MiB' | 's' | 'x';

export interface Row {
  scenario: string;
  metric: string;
  unit: Unit;
  sluice: number | null;
  /** The baseline or peer this row compares against (absent: an absolute target only). */
  other?: { name: string; value: number | null };
  /** sluice ÷ other. */
  ratio?: number | null;
  /** Min and max of the per-round ratios, when the two were measured in alternating rounds. */
  spread?: [number, number];
  target?: string;
  met?: boolean | null;
  note?: string;
}

export interface ScenarioResult {
  id: string;
  title: string;
  rows: Row[];
  /** Why the scenario (or part of it) did not run. */
  skipped?: string[];
  details: Record<string, unknown>;
  elapsedMs?: number;
}

export interface RunResult {
  startedAt: string;
  /** The commit measured, with "+dirty" when src/ had uncommitted changes. */
  commit?: string;
  mode: 'quick' | 'full';
  /** Scenario ids chosen with --only (absent: every scenario ran). */
  only?: string[];
  machine: MachineInfo;
  /** 1-minute load average when the run ended (with machine.loadAvg1m: how busy the box was). */
  loadAvgEnd?: number;
  durationMs: number;
  scenarios: ScenarioResult[];
}

const finite = (n: number | null | undefined): n is number => typeof n === 'number' && Number.isFinite(n);

/** A row compared with a baseline/peer; `minRatio` makes it a target (sluice ≥ minRatio × other). */
export function versus(r: Omit<Row, 'ratio' | 'met' | 'target'>, minRatio?: number, targetText?: string): Row {
  const ratio = finite(r.sluice) && finite(r.other?.value) && r.other.value !== 0 ? r.sluice / r.other.value : null;
  const row: Row = { ...r, ratio };
  if (minRatio !== undefined) {
    row.target = targetText ?? `≥ ${minRatio}× ${r.other?.name ?? ''}`.trim();
    row.met = ratio === null ? null : ratio >= minRatio;
  }
  return row;
}

/** The row with the min–max of its per-round ratios beside the ratio (when rounds were run). */
export function withSpread(row: Row, spread: [number, number] | undefined): Row {
  return spread ? { ...row, spread } : row;
}

/** A row with an absolute target: `sluice ≤ max` or `sluice ≥ min`. */
export function bound(r: Omit<Row, 'met' | 'target'>, op: '≤' | '≥', limit: number): Row {
  const met = finite(r.sluice) ? (op === '≤' ? r.sluice <= limit : r.sluice >= limit) : null;
  return { ...r, target: `${op} ${fmt(limit, r.unit)} ${r.unit}`, met };
}

export function fmt(n: number | null | undefined, unit: Unit): string {
  if (!finite(n)) return '—';
  switch (unit) {
    case 'rec/s':
    case 'req/s':
      return Math.round(n).toLocaleString('en-US');
    case 'µs':
    case 'ms':
      return n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(n >= 10 ? 1 : 2);
    case 'MB/s':
    case 'MiB':
      return n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1);
    case 's':
      return n.toFixed(2);
    case 'x':
      return `${n.toFixed(2)}×`;
  }
}

const ratioText = (r: number) => (r >= 10 ? r.toFixed(0) : r >= 1 ? r.toFixed(2) : r.toPrecision(2));

const metText = (m: boolean | null | undefined) => (m === true ? 'yes' : m === false ? 'NO' : m === null ? 'n/a' : '');

function cells(row: Row): string[] {
  const other = row.other ? `${fmt(row.other.value, row.unit)} (${row.other.name})` : '';
  return [
    `${row.scenario} — ${row.metric}`,
    `${fmt(row.sluice, row.unit)} ${row.unit}`,
    other,
    finite(row.ratio)
      ? `${ratioText(row.ratio)}×${row.spread ? ` (${ratioText(row.spread[0])}–${ratioText(row.spread[1])})` : ''}`
      : row.other
        ? '—'
        : '',
    row.target ?? '',
    metText(row.met),
  ];
}

const HEAD = ['scenario', 'sluice', 'baseline / peer', 'ratio (min–max of rounds)', 'target', 'met?'];

/** Plain-text table for the terminal. */
export function renderText(run: RunResult): string {
  const rows: string[][] = [];
  const notes: string[] = [];
  for (const s of run.scenarios) {
    for (const r of s.rows) rows.push(cells(r));
    for (const why of s.skipped ?? []) notes.push(`${s.title}: skipped: ${why}`);
  }
  const widths = HEAD.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ');
  return [
    `Sluice benchmarks (${run.mode} mode, ${run.startedAt}, ${(run.durationMs / 1000).toFixed(0)} s${run.commit ? `, commit ${run.commit}` : ''})`,
    `Machine: ${machineLine(run.machine)}${run.loadAvgEnd !== undefined ? `, load ${run.loadAvgEnd} at end` : ''}`,
    `Note: ${run.machine.note}`,
    '',
    line(HEAD),
    widths.map((w) => '-'.repeat(w)).join('-|-'),
    ...rows.map(line),
    ...(notes.length ? ['', ...notes] : []),
  ].join('\n');
}

/** Markdown table for the README. */
export function renderMarkdown(run: RunResult): string {
  const esc = (c: string) => c.replace(/\|/g, '\\|');
  const out = [
    `Latest run: \`npm run bench${run.mode === 'quick' ? ' -- --quick' : ''}\` on ${run.startedAt.slice(0, 10)} ` +
      `(${(run.durationMs / 1000).toFixed(0)} s${run.commit ? `, commit ${run.commit}` : ''}). Machine: ${machineLine(run.machine)}${run.loadAvgEnd !== undefined ? `, load ${run.loadAvgEnd} at end` : ''}.`,
    '',
    `> ${run.machine.note}`,
    '',
    `| ${HEAD.join(' | ')} |`,
    `|${HEAD.map((_, i) => (i === 1 || i === 3 ? ' ---: ' : ' --- ')).join('|')}|`,
  ];
  const skipped: string[] = [];
  for (const s of run.scenarios) {
    for (const r of s.rows) out.push(`| ${cells(r).map(esc).join(' | ')} |`);
    for (const why of s.skipped ?? []) skipped.push(`- ${s.title}: skipped: ${why}`);
  }
  if (skipped.length) out.push('', ...skipped);
  return out.join('\n');
}

export async function writeJson(dir: string, run: RunResult): Promise<string> {
  await fsp.mkdir(dir, { recursive: true });
  const file = path.join(dir, `${run.startedAt.replace(/[:.]/g, '-')}.json`);
  await fsp.writeFile(file, JSON.stringify(run, null, 2) + '\n');
  return file;
}
