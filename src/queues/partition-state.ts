// The lease state of one queue partition as a pure value: a start offset below which every
// record is finished, plus the in-flight window above it stored as ranges (KIP-932's model).
//
// The window [startOffset, endOffset) is covered exactly by `ranges`, in offset order. A
// range groups adjacent records that share a state, delivery count and lease, so a window
// of thousands of records acquired in a few receives is a handful of ranges. Records at
// or above endOffset have never been delivered; records below startOffset are done.
// Every function here is synchronous and side-effect free: the service loads the state
// under a row lock, applies one of these, and writes the result back.

/** `done`: accepted, archived or skipped. `dead`: to be appended to the dead-letter topic. */
export type RangeState = 'available' | 'acquired' | 'dead' | 'done';

/** Why a record is being dead-lettered (carried into the dead-letter headers). */
export type LastAction = 'rejected' | 'expired' | 'released' | 'max_deliveries';

export interface Range {
  first: number;
  last: number;
  state: RangeState;
  /** Times the records were handed to a receiver (the current delivery included). */
  deliveries: number;
  /** acquired: the lease token of the receive that took them. */
  token?: string;
  /** acquired: when the lease runs out (Unix ms). */
  expiresAt?: number;
  /** acquired, ordered_by_key: hash of the record's key (ranges are single records then). */
  keyHash?: string;
  /** dead: what sent it there. */
  action?: LastAction;
}

export interface PartitionState {
  startOffset: number;
  endOffset: number;
  ranges: Range[];
}

export interface QueueRules {
  maxDeliveries: number;
  /** With a dead-letter topic, finished-as-failed records go to `dead` (to append); else `done`. */
  hasDeadLetterTopic: boolean;
}

/** Counters a transition produced; the service adds them to the stored totals and metrics. */
export interface Tally {
  accepted: number;
  released: number;
  renewed: number;
  expired: number;
  /** Appended to the dead-letter topic (left `dead` for `done`). */
  deadLettered: number;
  /** Given up without a dead-letter topic. */
  archived: number;
  /** Gone to retention before being accepted. */
  skipped: number;
}

export const emptyTally = (): Tally => ({
  accepted: 0,
  released: 0,
  renewed: 0,
  expired: 0,
  deadLettered: 0,
  archived: 0,
  skipped: 0,
});

export function addTally(into: Tally, from: Tally): Tally {
  for (const k of Object.keys(into) as Array<keyof Tally>) into[k] += from[k];
  return into;
}

export const initialState = (offset: number): PartitionState => ({
  startOffset: offset,
  endOffset: offset,
  ranges: [],
});

const count = (r: Range) => r.last - r.first + 1;

function sameShape(a: Range, b: Range): boolean {
  return (
    a.state === b.state &&
    a.deliveries === b.deliveries &&
    a.token === b.token &&
    a.expiresAt === b.expiresAt &&
    a.keyHash === b.keyHash &&
    a.action === b.action &&
    a.keyHash === undefined
  );
}

/** Merge neighbours with the same shape and move startOffset past finished records. */
export function normalise(s: PartitionState): PartitionState {
  const out: Range[] = [];
  for (const r of s.ranges) {
    const prev = out[out.length - 1];
    if (prev && prev.last + 1 === r.first && sameShape(prev, r)) prev.last = r.last;
    else out.push({ ...r });
  }
  let start = s.startOffset;
  while (out.length > 0 && out[0]!.state === 'done') start = out.shift()!.last + 1;
  if (out.length === 0) start = s.endOffset;
  return { startOffset: start, endOffset: s.endOffset, ranges: out };
}

/** Split ranges so that `offset` is a range of its own; returns its index, or -1 if outside the window. */
function isolate(s: PartitionState, offset: number): number {
  if (offset < s.startOffset || offset >= s.endOffset) return -1;
  let lo = 0;
  let hi = s.ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const r = s.ranges[mid]!;
    if (offset < r.first) hi = mid - 1;
    else if (offset > r.last) lo = mid + 1;
    else {
      const parts: Range[] = [];
      if (r.first < offset) parts.push({ ...r, last: offset - 1 });
      parts.push({ ...r, first: offset, last: offset });
      if (offset < r.last) parts.push({ ...r, first: offset + 1 });
      s.ranges.splice(mid, 1, ...parts);
      return r.first < offset ? mid + 1 : mid;
    }
  }
  return -1;
}

function clone(s: PartitionState): PartitionState {
  return { startOffset: s.startOffset, endOffset: s.endOffset, ranges: s.ranges.map((r) => ({ ...r })) };
}

/** What a record becomes when its delivery failed (expired or released) with `deliveries` so far. */
function afterFailure(r: Range, rules: QueueRules, action: LastAction, tally: Tally): Range {
  const base = { first: r.first, last: r.last, deliveries: r.deliveries };
  if (r.deliveries < rules.maxDeliveries) return { ...base, state: 'available' };
  return giveUp(base, rules, action, tally);
}

function giveUp(
  base: { first: number; last: number; deliveries: number },
  rules: QueueRules,
  action: LastAction,
  tally: Tally,
): Range {
  const n = base.last - base.first + 1;
  if (rules.hasDeadLetterTopic) return { ...base, state: 'dead', action };
  tally.archived += n;
  return { ...base, state: 'done' };
}

/**
 * Records gone to retention: everything below `logStart` that is not done is counted as
 * skipped and finished (it can never be delivered or dead-lettered again).
 */
export function applyRetention(state: PartitionState, logStart: number, tally: Tally): PartitionState {
  if (logStart <= state.startOffset) return state;
  const s = clone(state);
  for (const r of s.ranges) {
    if (r.first >= logStart) break;
    const cut = Math.min(r.last, logStart - 1);
    const n = cut - r.first + 1;
    if (r.state !== 'done') tally.skipped += n;
  }
  // Never-delivered records below the log start were skipped too.
  if (logStart > s.endOffset) tally.skipped += logStart - s.endOffset;
  s.ranges = s.ranges
    .filter((r) => r.last >= logStart)
    .map((r) => (r.first < logStart ? { ...r, first: logStart } : r));
  s.startOffset = logStart;
  s.endOffset = Math.max(s.endOffset, logStart);
  return normalise(s);
}

/** Leases that ran out by `now` return to available (or are given up after maxDeliveries). */
export function expireLeases(state: PartitionState, now: number, rules: QueueRules, tally: Tally): PartitionState {
  if (!state.ranges.some((r) => r.state === 'acquired' && r.expiresAt! <= now)) return state;
  const s = clone(state);
  s.ranges = s.ranges.map((r) => {
    if (r.state !== 'acquired' || r.expiresAt! > now) return r;
    tally.expired += count(r);
    return afterFailure(r, rules, 'expired', tally);
  });
  return normalise(s);
}

export interface AcquireOptions {
  now: number;
  max: number;
  lockMs: number;
  token: string;
  /** First offset not yet written to the log: the window never grows past it. */
  logEnd: number;
  /** Most records the window [startOffset, endOffset) may span. */
  maxWindow: number;
  rules: QueueRules;
  /**
   * ordered_by_key: the key hash of the record at `offset` (null: no key, no constraint), or
   * undefined when the caller did not read that far (acquisition stops there).
   */
  keyOf?: (offset: number) => string | null | undefined;
}

export interface Acquired {
  offset: number;
  deliveries: number;
  expiresAt: number;
}

/**
 * Take up to `max` available records, oldest first, extending the window into the log when
 * the window has none. With `keyOf`, a record whose key is already in flight is left
 * available (so one key is never held twice, and its records go out in offset order).
 */
export function acquire(
  state: PartitionState,
  opts: AcquireOptions,
  tally: Tally,
): { state: PartitionState; acquired: Acquired[] } {
  const s = clone(state);
  const acquired: Acquired[] = [];
  const expiresAt = opts.now + opts.lockMs;
  const ordered = opts.keyOf !== undefined;
  const busyKeys = new Set<string>();
  if (ordered) for (const r of s.ranges) if (r.state === 'acquired' && r.keyHash) busyKeys.add(r.keyHash);

  const out: Range[] = [];
  let stopped = false;
  /** Decide for one record (offset, deliveries so far): acquire, leave available, or give up. */
  const take = (offset: number, deliveries: number): Range | 'leave' | 'stop' => {
    if (deliveries >= opts.rules.maxDeliveries)
      return giveUp({ first: offset, last: offset, deliveries }, opts.rules, 'max_deliveries', tally);
    let keyHash: string | undefined;
    if (ordered) {
      const k = opts.keyOf!(offset);
      if (k === undefined) return 'stop';
      if (k !== null) {
        if (busyKeys.has(k)) return 'leave';
        busyKeys.add(k);
        keyHash = k;
      }
    }
    acquired.push({ offset, deliveries: deliveries + 1, expiresAt });
    return {
      first: offset,
      last: offset,
      state: 'acquired',
      deliveries: deliveries + 1,
      token: opts.token,
      expiresAt,
      ...(keyHash !== undefined ? { keyHash } : {}),
    };
  };

  for (const r of s.ranges) {
    if (stopped || r.state !== 'available' || acquired.length >= opts.max) {
      out.push(r);
      continue;
    }
    // Unordered fast path: the whole head of the range in one piece.
    if (!ordered && r.deliveries < opts.rules.maxDeliveries) {
      const n = Math.min(count(r), opts.max - acquired.length);
      for (let o = r.first; o < r.first + n; o++) acquired.push({ offset: o, deliveries: r.deliveries + 1, expiresAt });
      out.push({
        first: r.first,
        last: r.first + n - 1,
        state: 'acquired',
        deliveries: r.deliveries + 1,
        token: opts.token,
        expiresAt,
      });
      if (r.first + n <= r.last) out.push({ ...r, first: r.first + n });
      continue;
    }
    for (let o = r.first; o <= r.last; o++) {
      const t = stopped || acquired.length >= opts.max ? 'leave' : take(o, r.deliveries);
      if (t === 'stop') stopped = true;
      out.push(typeof t === 'string' ? { ...r, first: o, last: o } : t);
    }
  }

  // Grow the window into records never delivered.
  const limit = Math.min(opts.logEnd, s.startOffset + opts.maxWindow);
  if (!ordered && acquired.length < opts.max && s.endOffset < limit) {
    const n = Math.min(limit - s.endOffset, opts.max - acquired.length);
    for (let o = s.endOffset; o < s.endOffset + n; o++) acquired.push({ offset: o, deliveries: 1, expiresAt });
    out.push({
      first: s.endOffset,
      last: s.endOffset + n - 1,
      state: 'acquired',
      deliveries: 1,
      token: opts.token,
      expiresAt,
    });
    s.endOffset += n;
  } else if (ordered) {
    while (!stopped && acquired.length < opts.max && s.endOffset < limit) {
      const t = take(s.endOffset, 0);
      if (t === 'stop') break;
      out.push(t === 'leave' ? { first: s.endOffset, last: s.endOffset, state: 'available', deliveries: 0 } : t);
      s.endOffset++;
    }
  }
  s.ranges = out;
  return { state: normalise(s), acquired };
}

export type AckAction = 'accept' | 'release' | 'reject' | 'renew';
export type AckStatus = 'ok' | 'expired' | 'unknown';

export interface AckOptions {
  offset: number;
  token: string;
  /** When the lease was first due to run out (carried in the lease string). */
  leaseExpiresAt: number;
  action: AckAction;
  now: number;
  /** renew: the new lock duration from now. */
  lockMs: number;
  rules: QueueRules;
}

/**
 * Apply one acknowledgement. `ok` only if the record is still held by this lease and the
 * lease has not run out; `expired` if the lease ran out (the record may be with someone
 * else now); `unknown` otherwise (already finished, released, or never issued).
 */
export function ack(
  state: PartitionState,
  a: AckOptions,
  tally: Tally,
): { state: PartitionState; status: AckStatus; expiresAt?: number } {
  const r = ackMany(state, [a], a, tally);
  return { state: r.state, ...r.results[0]! };
}

export interface AckResult {
  status: AckStatus;
  /** renew: the new expiry. */
  expiresAt?: number;
}

/**
 * Apply acknowledgements in order, as `ack` one after the other would, on one copy of the
 * state (a request's hundreds of acks cost one copy, not one each). The state comes back
 * as the same object when no ack changed anything.
 */
export function ackMany(
  state: PartitionState,
  acks: ReadonlyArray<Pick<AckOptions, 'offset' | 'token' | 'leaseExpiresAt' | 'action'>>,
  o: Pick<AckOptions, 'now' | 'lockMs' | 'rules'>,
  tally: Tally,
): { state: PartitionState; results: AckResult[] } {
  const s = clone(state);
  const results: AckResult[] = [];
  let changed = false;
  for (const a of acks) {
    const i = isolate(s, a.offset);
    const r = i >= 0 ? s.ranges[i]! : undefined;
    const held = r !== undefined && r.state === 'acquired' && r.token === a.token;
    if (!held || r.expiresAt! <= o.now) {
      const expired = (held ? r.expiresAt! : a.leaseExpiresAt) <= o.now;
      results.push({ status: expired ? 'expired' : 'unknown' });
      continue;
    }
    changed = true;
    switch (a.action) {
      case 'accept':
        s.ranges[i] = { first: r.first, last: r.last, state: 'done', deliveries: r.deliveries };
        tally.accepted++;
        results.push({ status: 'ok' });
        break;
      case 'release':
        s.ranges[i] = afterFailure(r, o.rules, 'released', tally);
        tally.released++;
        results.push({ status: 'ok' });
        break;
      case 'reject':
        s.ranges[i] = giveUp({ first: r.first, last: r.last, deliveries: r.deliveries }, o.rules, 'rejected', tally);
        results.push({ status: 'ok' });
        break;
      case 'renew': {
        const expiresAt = o.now + o.lockMs;
        s.ranges[i] = { ...r, expiresAt };
        tally.renewed++;
        results.push({ status: 'ok', expiresAt });
        break;
      }
    }
  }
  return { state: changed ? normalise(s) : state, results };
}

/** Records waiting to be appended to the dead-letter topic. */
export function deadRecords(state: PartitionState): Array<{ offset: number; deliveries: number; action: LastAction }> {
  const out: Array<{ offset: number; deliveries: number; action: LastAction }> = [];
  for (const r of state.ranges)
    if (r.state === 'dead')
      for (let o = r.first; o <= r.last; o++) out.push({ offset: o, deliveries: r.deliveries, action: r.action! });
  return out;
}

/** Mark dead records as finished once they are in the dead-letter topic (others left as they are). */
export function finishDead(state: PartitionState, offsets: Iterable<number>, tally: Tally): PartitionState {
  const s = clone(state);
  for (const o of offsets) {
    const i = isolate(s, o);
    const r = i >= 0 ? s.ranges[i] : undefined;
    if (r?.state === 'dead') {
      s.ranges[i] = { first: r.first, last: r.last, state: 'done', deliveries: r.deliveries };
      tally.deadLettered++;
    }
  }
  return normalise(s);
}

/** The next moment something in this partition needs the sweeper: a lease running out, or dead records now. */
export function nextSweepAt(state: PartitionState, now: number): number | null {
  let at: number | null = null;
  for (const r of state.ranges) {
    if (r.state === 'dead') return now;
    if (r.state === 'acquired' && (at === null || r.expiresAt! < at)) at = r.expiresAt!;
  }
  return at;
}

export interface WindowCounts {
  available: number;
  inFlight: number;
  deadPending: number;
  /** Earliest lease expiry among in-flight records, or null. */
  nextExpiry: number | null;
}

/** Counts within the window (records past endOffset are available too; the caller adds them). */
export function windowCounts(state: PartitionState): WindowCounts {
  const c: WindowCounts = { available: 0, inFlight: 0, deadPending: 0, nextExpiry: null };
  for (const r of state.ranges) {
    const n = count(r);
    if (r.state === 'available') c.available += n;
    else if (r.state === 'acquired') {
      c.inFlight += n;
      if (c.nextExpiry === null || r.expiresAt! < c.nextExpiry) c.nextExpiry = r.expiresAt!;
    } else if (r.state === 'dead') c.deadPending += n;
  }
  return c;
}

/** Compact JSON form stored in Postgres: one array per range. */
export type StoredRange = [
  first: number,
  last: number,
  state: 'a' | 'q' | 'x' | 'd',
  deliveries: number,
  token: string | null,
  expiresAt: number | null,
  keyHash: string | null,
  action: LastAction | null,
];

const STATE_CODE: Record<RangeState, StoredRange[2]> = { available: 'a', acquired: 'q', dead: 'x', done: 'd' };
const CODE_STATE: Record<StoredRange[2], RangeState> = { a: 'available', q: 'acquired', x: 'dead', d: 'done' };

export function encodeRanges(ranges: Range[]): StoredRange[] {
  return ranges.map((r) => [
    r.first,
    r.last,
    STATE_CODE[r.state],
    r.deliveries,
    r.token ?? null,
    r.expiresAt ?? null,
    r.keyHash ?? null,
    r.action ?? null,
  ]);
}

export function decodeRanges(stored: StoredRange[]): Range[] {
  return stored.map(([first, last, code, deliveries, token, expiresAt, keyHash, action]) => ({
    first: Number(first),
    last: Number(last),
    state: CODE_STATE[code],
    deliveries,
    ...(token !== null ? { token } : {}),
    ...(expiresAt !== null ? { expiresAt: Number(expiresAt) } : {}),
    ...(keyHash !== null ? { keyHash } : {}),
    ...(action !== null ? { action } : {}),
  }));
}
