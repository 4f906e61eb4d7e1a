// HEAD on a GET route runs its handler and drops the body. For the GETs that change state — an
// SSE group member (joins the group), a member's fetch (heartbeat, may commit what it confirms),
// a queue's SSE stream (leases records) — that would act for a client that can receive nothing,
// so HEAD is answered 405 there (Allow: GET), before anything runs.
import { ApiError } from '../errors.js';
import { isStateChangingGet } from '../state-changing-gets.js';
import type { Guard } from './chain.js';

export function refuseUnsafeHead(): Guard {
  return (c) => {
    if (c.req.method === 'HEAD' && isStateChangingGet(c.req.path)) {
      throw new ApiError(
        'method_not_allowed',
        `HEAD is not supported on ${c.req.path}: its GET acts (joins, fetches or leases) for the caller; use GET`,
        {},
        { allow: 'GET' },
      );
    }
  };
}
