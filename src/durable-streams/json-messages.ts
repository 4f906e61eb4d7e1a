// JSON-mode appends: validate the body (UTF-8, JSON, bounded nesting) and split a top-level
// array into its elements' exact source text, so stored messages keep their bytes (big numbers too).
import { err, ok, type Result } from '../lib/result.js';
import { hasLoneSurrogateEscape, hasNonFiniteNumber, mayHoldHugeNumber } from '../topics/record-json-scan.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The messages of a JSON body: the elements of a top-level array (flattened one level), or the
 * single value. Refuses invalid UTF-8, invalid JSON, and nesting deeper than `maxDepth` before
 * parsing (a deep document would exhaust the stack of whatever reads it later).
 */
export function jsonMessages(
  body: Uint8Array,
  maxDepth: number,
): Result<{ messages: string[]; array: boolean }, string> {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    return err('the body is not valid UTF-8');
  }
  // One pass outside strings: nesting depth, and where each top-level array element ends.
  let depth = 0;
  let deepest = 0;
  let inString = false;
  const commas: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 0x5c)
        i++; // backslash: skip the escaped character
      else if (ch === 0x22) inString = false;
      continue;
    }
    if (ch === 0x22) inString = true;
    else if (ch === 0x5b || ch === 0x7b) {
      if (++depth > deepest) deepest = depth;
      if (deepest > maxDepth) return err(`the JSON nests deeper than ${maxDepth} levels (SLUICE_MAX_JSON_DEPTH)`);
    } else if (ch === 0x5d || ch === 0x7d) depth--;
    else if (ch === 0x2c && depth === 1) commas.push(i);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return err(`the body is not valid JSON: ${(e as Error).message}`);
  }
  // As topic produce refuses for a json value: the stored messages are served by /v1/topics too.
  const bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (hasLoneSurrogateEscape(bytes))
    return err('the JSON has a \\u escape of half a surrogate pair, which strict JSON parsers refuse');
  if (mayHoldHugeNumber(bytes) && hasNonFiniteNumber(value))
    return err('the JSON has a number beyond the range of a 64-bit float (e.g. 1e400)');
  if (!Array.isArray(value)) return ok({ messages: [text.trim()], array: false });
  if (value.length === 0) return ok({ messages: [], array: true });
  const open = text.indexOf('[');
  const close = text.lastIndexOf(']');
  const bounds = [open, ...commas, close];
  const messages: string[] = [];
  for (let k = 0; k + 1 < bounds.length; k++) messages.push(text.slice(bounds[k]! + 1, bounds[k + 1]).trim());
  return ok({ messages, array: true });
}
