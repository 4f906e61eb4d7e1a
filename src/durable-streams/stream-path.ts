// Stream paths (what follows /v1/stream/, may contain '/') ↔ topic names: an injective,
// reversible escaping into the topic name alphabet, so a stream is an ordinary topic.
import { err, ok, type Result } from '../lib/result.js';

/** Where the protocol is served; the stream path is everything after it. */
export const STREAM_ROUTE_PREFIX = '/v1/stream/';

/** Topic names are at most 249 characters (Kafka's limit); an escaped path must fit. */
const MAX_TOPIC_NAME = 249;
/** Longest raw path looked at (bytes of the URL); longer is refused before any work. */
export const MAX_STREAM_PATH_BYTES = 1024;
const PLAIN = /[A-Za-z0-9.-]/;

/**
 * The topic name of a stream path. Letters, digits, '.' and '-' stay; '/' becomes `__`;
 * every other byte of the UTF-8 encoding (including '_') becomes `_XX` (upper-case hex).
 * So `chat/room-1` → `chat__room-1`, `a_b` → `a_5Fb`: a prefixed grant on `chat__` covers
 * every stream under `chat/`. Empty segments, `.`/`..` segments, NUL and control
 * characters are refused.
 */
export function streamTopicName(path: string): Result<string, string> {
  if (path.length === 0) return err('the stream path is empty');
  if (Buffer.byteLength(path) > MAX_STREAM_PATH_BYTES)
    return err(`the stream path exceeds ${MAX_STREAM_PATH_BYTES} bytes`);
  const segments = path.split('/');
  for (const s of segments) {
    if (s === '') return err('the stream path has an empty segment (a leading, trailing or doubled "/")');
    if (s === '.' || s === '..') return err('the stream path may not contain "." or ".." segments');
  }
  if (/[\u0000-\u001f\u007f]/.test(path)) return err('the stream path may not contain control characters');
  let out = '';
  for (const ch of path) {
    if (ch === '/') out += '__';
    else if (PLAIN.test(ch)) out += ch;
    else for (const b of Buffer.from(ch, 'utf8')) out += `_${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  if (out.length > MAX_TOPIC_NAME)
    return err(
      `the stream path is too long: its topic name ${JSON.stringify(out.slice(0, 40))}… exceeds ${MAX_TOPIC_NAME} characters`,
    );
  return ok(out);
}

/** The stream path of a request path (`/v1/stream/a%20b/c` → `a b/c`), or why it is not one. */
export function streamPathOfUrlPath(urlPath: string): Result<string, string> {
  if (!urlPath.startsWith(STREAM_ROUTE_PREFIX)) return err('not a stream path');
  const raw = urlPath.slice(STREAM_ROUTE_PREFIX.length);
  if (raw.length > MAX_STREAM_PATH_BYTES * 3) return err(`the stream path exceeds ${MAX_STREAM_PATH_BYTES} bytes`);
  try {
    return ok(decodeURIComponent(raw));
  } catch {
    return err('the stream path is not valid percent-encoded UTF-8');
  }
}

/**
 * The stream path of a request URL as the server received it (`c.req.url`): its path up to the
 * query, decoded, so `%2F` stays part of a segment name. The route and the permission check both
 * read it here, so they name the same stream. A raw `#` is refused: a request target never holds a
 * fragment (RFC 9112 §3.2), and a URL parser would drop what follows it.
 */
export function streamPathOfRequestUrl(url: string): Result<string, string> {
  const start = url.indexOf('/', url.indexOf('//') + 2);
  const q = url.indexOf('?', start);
  const pathname = url.slice(start, q < 0 ? undefined : q);
  if (pathname.includes('#')) return err('the request path may not contain a raw "#": percent-encode it as %23');
  return streamPathOfUrlPath(pathname);
}

/**
 * The stream path a `Stream-Forked-From` value names: a request path (`/v1/stream/a%20b`, decoded)
 * or a stream path as is (leading `/` dropped). Only printable ASCII is taken: a header's other
 * bytes arrive as Latin-1, so a UTF-8 path would name another stream, and `trim()` would drop a
 * no-break space (the parser already dropped spaces and tabs around the value). A path with
 * other characters is given in its percent-encoded request form. The route and the permission
 * check both read the header through this, so they name the same stream.
 */
export function forkSourcePath(header: string): Result<string, string> {
  if (!/^[\x20-\x7e]*$/.test(header))
    return err('only printable ASCII is taken: give a path with other characters percent-encoded, as /v1/stream/…');
  if (header.startsWith(STREAM_ROUTE_PREFIX)) return streamPathOfUrlPath(header);
  const path = header.replace(/^\/+/, '');
  return path === '' ? err('names no stream') : ok(path);
}

/** The topic name a request URL's stream path names, for permission checks (`*` when it names none). */
export function streamTopicOfRequestUrl(url: string): string {
  const p = streamPathOfRequestUrl(url);
  if (!p.ok) return '*';
  const n = streamTopicName(p.value);
  return n.ok ? n.value : '*';
}

/** The topic of the stream a `Stream-Forked-From` value names, for permission checks (`*` when it names none). */
export function forkSourceTopic(header: string): string {
  const p = forkSourcePath(header);
  if (!p.ok) return '*';
  const n = streamTopicName(p.value);
  return n.ok ? n.value : '*';
}
