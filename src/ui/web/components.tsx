// Small shared pieces: a uPlot time-series chart, status badges, error notices, sections, tables.
import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

export function Chart(props: {
  title: string;
  t: number[];
  series: Array<{ label: string; values: number[]; color: string }>;
  format: (n: number) => string;
  /** The y axis reaches at least this (so an idle chart has sensible ticks). */
  floor?: number;
  /** Seconds of time shown. */
  window?: number;
}) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const data = [props.t, ...props.series.map((s) => s.values)] as uPlot.AlignedData;
  useEffect(() => {
    if (!box.current) return undefined;
    const fmt = props.format;
    const floor = props.floor ?? 1;
    const span = props.window ?? 300;
    plot.current = new uPlot(
      {
        width: Math.max(300, box.current.clientWidth),
        height: 160,
        legend: { show: true },
        cursor: { drag: { x: false, y: false } },
        scales: {
          // The last minutes up to the newest point, however few points there are yet.
          x: {
            time: true,
            range: (_u, _min, max) => {
              const end = max ?? Date.now() / 1000;
              return [end - span, end];
            },
          },
          y: { range: (_u, _min, max) => [0, Math.max(floor, max * 1.1)] },
        },
        axes: [
          { stroke: '#3b4252', grid: { stroke: '#e5e9f0' } },
          { stroke: '#3b4252', grid: { stroke: '#e5e9f0' }, size: 60, values: (_u, v) => v.map((x) => fmt(x)) },
        ],
        series: [
          {},
          ...props.series.map((s) => ({
            label: s.label,
            stroke: s.color,
            width: 2,
            value: (_u: uPlot, v: number | null) => (v === null ? '—' : fmt(v)),
          })),
        ],
      },
      data,
      box.current,
    );
    return () => {
      plot.current?.destroy();
      plot.current = null;
    };
  }, []);
  useEffect(() => {
    plot.current?.setData(data);
  });
  return (
    <figure class="chart">
      <figcaption>{props.title}</figcaption>
      <div ref={box} role="img" aria-label={`${props.title}, last minutes`} />
    </figure>
  );
}

export function Badge(props: { state: string }) {
  return <span class={`badge badge-${props.state.replace(/[^a-z_]/g, '')}`}>{props.state}</span>;
}

export function ErrorNotice(props: { error: string | null }) {
  if (!props.error) return null;
  return (
    <p class="error" role="alert">
      {props.error}
    </p>
  );
}

export function Section(props: { title: string; children: ComponentChildren; id?: string }) {
  return (
    <section class="card" aria-labelledby={props.id}>
      <h2 id={props.id}>{props.title}</h2>
      {props.children}
    </section>
  );
}

/** One column of a `Table`: its heading, whether it holds numbers (right-aligned), its cell. */
export interface Column<Row> {
  label: string;
  num?: boolean;
  mono?: boolean;
  cell: (row: Row) => ComponentChildren;
}

/** A table of `rows` with one heading per column (the per-partition tables of every page). */
export function Table<Row>(props: {
  columns: ReadonlyArray<Column<Row>>;
  rows: readonly Row[];
  rowKey: (row: Row) => string | number;
  testid?: string;
}) {
  const cls = (c: Column<Row>) => (c.num ? 'num' : c.mono ? 'mono' : undefined);
  return (
    <table data-testid={props.testid}>
      <thead>
        <tr>
          {props.columns.map((c) => (
            <th key={c.label} scope="col" class={c.num ? 'num' : undefined}>
              {c.label}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {props.rows.map((row) => (
          <tr key={props.rowKey(row)}>
            {props.columns.map((c) => (
              <td key={c.label} class={cls(c)}>
                {c.cell(row)}
              </td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** A button that is disabled, with the reason as its title and visible text, when `denied` is set. */
export function ActionButton(props: {
  denied?: string | null;
  busy?: boolean;
  onClick?: () => void;
  type?: 'button' | 'submit';
  children: ComponentChildren;
  name?: string;
}) {
  return (
    <span class="action">
      <button
        type={props.type ?? 'button'}
        name={props.name}
        disabled={Boolean(props.denied) || props.busy}
        title={props.denied ?? undefined}
        onClick={props.onClick}
      >
        {props.children}
      </button>
      {props.denied ? <small class="denied">{props.denied}</small> : null}
    </span>
  );
}

export const href = (...parts: string[]): string => `#/${parts.map(encodeURIComponent).join('/')}`;
