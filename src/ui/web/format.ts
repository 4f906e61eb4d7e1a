// Numbers, sizes, times and record values as text (never HTML: everything is rendered as text nodes).

export const count = (n: number): string => n.toLocaleString('en-US');

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export const rate = (n: number): string => (n >= 100 ? count(Math.round(n)) : n.toFixed(1));

export const time = (ms: number | null | undefined): string =>
  ms === null || ms === undefined ? '—' : new Date(ms).toISOString().replace('T', ' ').replace('Z', '');

export function duration(ms: number): string {
  if (ms < 0) return 'forever';
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000} d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${ms} ms`;
}

/**
 * A record value for display: JSON pretty-printed; binary (base64 on the wire) as base64 or hex.
 * `base64`: the value is bytes in base64 — every value of a `binary` topic (served without
 * `value_encoding`), or one served with `"value_encoding": "base64"` on another topic.
 */
export function showValue(value: unknown, base64: boolean, binaryAs: 'base64' | 'hex'): string {
  if (base64 && typeof value === 'string') {
    if (binaryAs === 'base64') return value;
    const raw = atob(value);
    let hex = '';
    for (let i = 0; i < raw.length; i++)
      hex += raw.charCodeAt(i).toString(16).padStart(2, '0') + (i % 16 === 15 ? '\n' : ' ');
    return hex.trimEnd();
  }
  if (typeof value === 'string') return value;
  return JSON.stringify(value, null, 2);
}
