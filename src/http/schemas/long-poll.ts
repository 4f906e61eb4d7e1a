// The `wait_ms` query parameter every long-poll shares: one declared maximum (the hard limit
// SLUICE_LONG_POLL_MAX_MS may only lower) and one message whichever of the two refuses it.
import { LONG_POLL_LIMIT_MS } from '../../config.js';
import { ApiError } from '../errors.js';
import { intString } from './int-query.js';

const tooLong = (maxMs: number) => `must be ≤ ${maxMs} (SLUICE_LONG_POLL_MAX_MS)`;

/** `wait_ms`: 0 … LONG_POLL_LIMIT_MS, default 0. */
export const waitMsQuery = (description: string) =>
  intString(0, LONG_POLL_LIMIT_MS, { error: tooLong(LONG_POLL_LIMIT_MS) })
    .default(0)
    .openapi({ description, maximum: LONG_POLL_LIMIT_MS, minimum: 0 });

/** Refuse a `wait_ms` above the configured SLUICE_LONG_POLL_MAX_MS, worded like the schema's own refusal. */
export function checkWaitMs(waitMs: number, maxMs: number): void {
  if (waitMs <= maxMs) return;
  const message = tooLong(maxMs);
  throw new ApiError('bad_request', `query.wait_ms: ${message}`, { issues: [{ field: 'query.wait_ms', message }] });
}
