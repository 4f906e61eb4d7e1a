// The GETs that act for the caller: a group's SSE stream joins the group, a member's fetch
// heartbeats and may commit what it confirms, a queue's SSE stream leases records. HEAD is refused
// on them (unsafe-head.ts), and so are requests from unlisted origins (origin-policy.ts).

export const STATE_CHANGING_GETS: ReadonlyArray<{ operationId: string; path: RegExp }> = [
  { operationId: 'streamGroupEvents', path: /^\/v1\/groups\/[^/]+\/events\/?$/ },
  { operationId: 'fetchGroupRecords', path: /^\/v1\/groups\/[^/]+\/members\/[^/]+\/records\/?$/ },
  { operationId: 'streamQueueEvents', path: /^\/v1\/topics\/[^/]+\/queues\/[^/]+\/events\/?$/ },
];

/** Whether `path` is one of the GETs that act. */
export function isStateChangingGet(path: string): boolean {
  return STATE_CHANGING_GETS.some((g) => g.path.test(path));
}
