// Request bodies are read as sent: a body with a Content-Encoding (gzip, br, deflate, …) is
// answered 415 before anything reads it, rather than parsed as JSON or stored compressed.
//
// Decoding gzip was the alternative; refusing keeps the body limits exact (no decompression
// bombs: SLUICE_MAX_BODY_BYTES bounds the bytes that are parsed) and is what RFC 9110 §15.5.16
// prescribes for a coding the server does not apply, with Accept-Encoding naming what it accepts.
import { ApiError } from '../errors.js';
import type { Guard } from './chain.js';

/** Methods whose body no route reads: their Content-Encoding, if any, is ignored. */
const BODYLESS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The codings named by a Content-Encoding value, lower-case, with `identity` (no coding) dropped. */
export function contentCodings(header: string): string[] {
  return header
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity');
}

export function refuseContentEncoding(): Guard {
  return (c) => {
    const header = c.req.header('content-encoding');
    if (header === undefined || BODYLESS.has(c.req.method)) return;
    const codings = contentCodings(header);
    if (codings.length === 0) return;
    throw new ApiError(
      'unsupported_media_type',
      `Content-Encoding ${JSON.stringify(codings.join(', ').slice(0, 100))} is not supported: send the request body uncompressed (no Content-Encoding, or identity)`,
      {},
      { 'accept-encoding': 'identity' },
    );
  };
}
