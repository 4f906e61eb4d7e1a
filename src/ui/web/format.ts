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

/** Characters of a value the live tail shows before cutting it (the rest on request). */
export const SHOWN_CHARS = 4096;

const ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
const escape = (c: string): string => ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
// Control characters, and the bidi marks, embeddings, overrides and isolates that reorder text.
const CONTROL_OR_BIDI = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const CONTROL_OR_BIDI_BUT_LINES =
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * A key, header name or header value as one line of text: control and bidi characters shown as
 * escapes (`\n`, `\u202E`), so a newline cannot fake a second header nor an override reverse
 * what follows it.
 */
export const oneLine = (s: string): string => s.replace(CONTROL_OR_BIDI, escape);

/** A value's text: as `oneLine`, but its line breaks and tabs kept. */
export const visible = (s: string): string => s.replace(CONTROL_OR_BIDI_BUT_LINES, escape);

/**
 * A record value for display, at most `maxChars` characters of it (`more`: how many were left
 * out): JSON pretty-printed; binary (base64 on the wire) as base64 or hex. `base64`: the value
 * is bytes in base64 — every value of a `binary` topic (served without `value_encoding`), or one
 * served with `"value_encoding": "base64"` on another topic.
 */
export function showValue(
  value: unknown,
  base64: boolean,
  binaryAs: 'base64' | 'hex',
  maxChars = Number.POSITIVE_INFINITY,
): { text: string; more: number } {
  if (base64 && typeof value === 'string' && binaryAs === 'hex') {
    const padding = value.endsWith('==') ? 2 : value.endsWith('=') ? 1 : 0;
    const total = Math.max(0, Math.floor((value.length * 3) / 4) - padding);
    // Only the bytes shown are decoded: a megabyte value costs no more than its first lines.
    const shown = Math.min(total, Math.ceil(maxChars / 3));
    let raw: string;
    try {
      raw = atob(value.slice(0, Math.ceil(shown / 3) * 4)).slice(0, shown);
    } catch {
      return clip(visible(value), maxChars); // not base64 after all: shown as it came
    }
    let hex = '';
    for (let i = 0; i < raw.length; i++)
      hex += raw.charCodeAt(i).toString(16).padStart(2, '0') + (i % 16 === 15 ? '\n' : ' ');
    return { text: hex.trimEnd(), more: 3 * (total - raw.length) };
  }
  const text = typeof value === 'string' ? value : (JSON.stringify(value, null, 2) ?? '');
  const cut = clip(text, maxChars);
  return { text: visible(cut.text), more: cut.more };
}

function clip(text: string, maxChars: number): { text: string; more: number } {
  return text.length <= maxChars ? { text, more: 0 } : { text: text.slice(0, maxChars), more: text.length - maxChars };
}
