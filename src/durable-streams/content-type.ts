// Content types of Durable Streams: normalised for comparison (case-insensitive media type,
// parameters kept), JSON mode detection, and the topic value_format a stream's records get.

/** `Application/JSON; Charset=UTF-8` → `application/json; charset=utf-8` (spaces trimmed). */
export function normaliseContentType(raw: string): string {
  return raw
    .split(';')
    .map((part) => part.trim().toLowerCase())
    .filter((part) => part !== '')
    .join('; ');
}

/** The media type alone (`application/json`), what appends are compared on. */
export function mediaType(contentType: string): string {
  return (contentType.split(';')[0] ?? '').trim().toLowerCase();
}

export function contentTypesMatch(a: string, b: string): boolean {
  return mediaType(a) === mediaType(b);
}

export function isJsonContentType(contentType: string): boolean {
  return mediaType(contentType) === 'application/json';
}

/** SSE carries text natively for text/* and JSON; anything else is base64. */
export function isTextContentType(contentType: string): boolean {
  const m = mediaType(contentType);
  return m.startsWith('text/') || m === 'application/json';
}

/** JSON streams are json topics (records readable as JSON values), text/* string, else binary. */
export function valueFormatFor(contentType: string): 'json' | 'string' | 'binary' {
  const m = mediaType(contentType);
  if (m === 'application/json') return 'json';
  if (m.startsWith('text/')) return 'string';
  return 'binary';
}

/** A syntactically plausible media type (`type/subtype`, token characters). */
export function isValidContentType(raw: string): boolean {
  return /^[!#$%&'*+.^_`|~0-9A-Za-z-]+\/[!#$%&'*+.^_`|~0-9A-Za-z-]+\s*(;.*)?$/.test(raw.trim()) && raw.length <= 256;
}
