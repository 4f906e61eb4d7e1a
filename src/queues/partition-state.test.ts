// Property tests of the lease/range state machine against a model that keeps one entry per
// record: after any sequence of receives, acks, expiries, appends and retention, both agree.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ack,
  ackMany,
  acquire,
  applyRetention,
  decodeRanges,
  deadRecords,
  emptyTally,
  encodeRanges,
  expireLeases,
  finishDead,
  initialState,
  type AckAction,
  type AckStatus,
  type LastAction,
  type PartitionState,
  type QueueRules,
  type Tally,
} from './partition-state.js';

interface ModelRec {
  state: 'available' | 'acquired' | 'dead' | 'done';
  deliveries: number;
  token?: string;
  expiresAt?: number;
  key?: string | null;
  action?: LastAction;
}

class Model {
  start: number;
  end: number;
  recs = new Map<number, ModelRec>();
  tally = emptyTally();
  constructor(
    offset: number,
    readonly rules: QueueRules,
  ) {
    this.start = offset;
    this.end = offset;
  }

  private giveUp(rec: ModelRec, action: LastAction): ModelRec {
    if (this.rules.hasDeadLetterTopic) return { state: 'dead', deliveries: rec.deliveries, action };
    this.tally.archived++;
    return { state: 'done', deliveries: rec.deliveries };
  }

  private failed(rec: ModelRec, action: LastAction): ModelRec {
    return rec.deliveries < this.rules.maxDeliveries
      ? { state: 'available', deliveries: rec.deliveries }
      : this.giveUp(rec, action);
  }

  private tidy(): void {
    while (this.start < this.end && this.recs.get(this.start)!.state === 'done') this.recs.delete(this.start++);
  }

  acquire(o: {
    now: number;
    max: number;
    lockMs: number;
    token: string;
    logEnd: number;
    maxWindow: number;
    keyOf?: (offset: number) => string | null;
  }): number[] {
    const got: number[] = [];
    const busy = new Set<string>();
    if (o.keyOf) for (const r of this.recs.values()) if (r.state === 'acquired' && r.key != null) busy.add(r.key);
    const consider = (offset: number, rec: ModelRec): ModelRec => {
      if (rec.deliveries >= this.rules.maxDeliveries) return this.giveUp(rec, 'max_deliveries');
      let key: string | null = null;
      if (o.keyOf) {
        key = o.keyOf(offset);
        if (key !== null && busy.has(key)) return rec;
        if (key !== null) busy.add(key);
      }
      got.push(offset);
      return {
        state: 'acquired',
        deliveries: rec.deliveries + 1,
        token: o.token,
        expiresAt: o.now + o.lockMs,
        key,
      };
    };
    for (let off = this.start; off < this.end && got.length < o.max; off++) {
      const rec = this.recs.get(off)!;
      if (rec.state === 'available') this.recs.set(off, consider(off, rec));
    }
    const limit = Math.min(o.logEnd, this.start + o.maxWindow);
    while (got.length < o.max && this.end < limit) {
      this.recs.set(this.end, consider(this.end, { state: 'available', deliveries: 0 }));
      this.end++;
    }
    this.tidy();
    return got;
  }

  ack(
    offset: number,
    token: string,
    leaseExpiresAt: number,
    action: AckAction,
    now: number,
    lockMs: number,
  ): AckStatus {
    const rec = offset >= this.start && offset < this.end ? this.recs.get(offset) : undefined;
    const held = rec?.state === 'acquired' && rec.token === token;
    if (!held || rec.expiresAt! <= now) return (held ? rec.expiresAt! : leaseExpiresAt) <= now ? 'expired' : 'unknown';
    if (action === 'accept') {
      this.recs.set(offset, { state: 'done', deliveries: rec.deliveries });
      this.tally.accepted++;
    } else if (action === 'release') {
      this.recs.set(offset, this.failed(rec, 'released'));
      this.tally.released++;
    } else if (action === 'reject') this.recs.set(offset, this.giveUp(rec, 'rejected'));
    else {
      rec.expiresAt = now + lockMs;
      this.tally.renewed++;
    }
    this.tidy();
    return 'ok';
  }

  expire(now: number): void {
    for (const [off, rec] of this.recs) {
      if (rec.state === 'acquired' && rec.expiresAt! <= now) {
        this.tally.expired++;
        this.recs.set(off, this.failed(rec, 'expired'));
      }
    }
    this.tidy();
  }

  retention(logStart: number): void {
    if (logStart <= this.start) return;
    for (let off = this.start; off < logStart; off++) {
      const rec = this.recs.get(off);
      if (!rec || rec.state !== 'done') this.tally.skipped++;
      this.recs.delete(off);
    }
    this.start = logStart;
    this.end = Math.max(this.end, logStart);
    this.tidy();
  }

  finishDead(offsets: number[]): void {
    for (const off of offsets) {
      const rec = this.recs.get(off)!;
      this.recs.set(off, { state: 'done', deliveries: rec.deliveries });
      this.tally.deadLettered++;
    }
    this.tidy();
  }
}

/** The per-record view of a range state, for comparison with the model. */
function expand(s: PartitionState): Map<number, ModelRec> {
  const m = new Map<number, ModelRec>();
  for (const r of s.ranges)
    for (let o = r.first; o <= r.last; o++) {
      const rec: ModelRec = { state: r.state, deliveries: r.deliveries };
      if (r.state === 'acquired') Object.assign(rec, { token: r.token, expiresAt: r.expiresAt });
      if (r.state === 'dead') rec.action = r.action!;
      m.set(o, rec);
    }
  return m;
}

function modelView(m: Model): Map<number, ModelRec> {
  const out = new Map<number, ModelRec>();
  for (const [o, r] of [...m.recs].sort((a, b) => a[0] - b[0])) {
    const rec: ModelRec = { state: r.state, deliveries: r.deliveries };
    if (r.state === 'acquired') Object.assign(rec, { token: r.token, expiresAt: r.expiresAt });
    if (r.state === 'dead') rec.action = r.action!;
    out.set(o, rec);
  }
  return out;
}

function checkInvariants(s: PartitionState, maxWindow: number): void {
  let next = s.startOffset;
  for (const [i, r] of s.ranges.entries()) {
    expect(r.first).toBe(next);
    expect(r.last).toBeGreaterThanOrEqual(r.first);
    next = r.last + 1;
    if (i === 0) expect(r.state).not.toBe('done');
  }
  expect(next).toBe(s.endOffset);
  expect(s.endOffset - s.startOffset).toBeLessThanOrEqual(maxWindow);
}

type Command =
  | { t: 'append'; n: number }
  | { t: 'acquire'; max: number; lockMs: number }
  | { t: 'ack'; pick: number; action: AckAction }
  | { t: 'acks'; picks: Array<{ pick: number; action: AckAction }> }
  | { t: 'tick'; ms: number }
  | { t: 'expire' }
  | { t: 'retention'; n: number }
  | { t: 'dlq'; all: boolean };

const command: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ t: fc.constant('append' as const), n: fc.integer({ min: 1, max: 20 }) }),
  fc.record({
    t: fc.constant('acquire' as const),
    max: fc.integer({ min: 1, max: 12 }),
    lockMs: fc.integer({ min: 1, max: 50 }),
  }),
  fc.record({
    t: fc.constant('ack' as const),
    pick: fc.nat(),
    action: fc.constantFrom<AckAction>('accept', 'accept', 'release', 'reject', 'renew'),
  }),
  fc.record({ t: fc.constant('ack' as const), pick: fc.nat(), action: fc.constant<AckAction>('accept') }),
  // One request's acks in one go (duplicates included), as the service applies them.
  fc.record({
    t: fc.constant('acks' as const),
    picks: fc.array(
      fc.record({
        pick: fc.nat(),
        action: fc.constantFrom<AckAction>('accept', 'accept', 'release', 'reject', 'renew'),
      }),
      { minLength: 1, maxLength: 8 },
    ),
  }),
  fc.record({ t: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 40 }) }),
  fc.constant({ t: 'expire' as const }),
  fc.record({ t: fc.constant('retention' as const), n: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ t: fc.constant('dlq' as const), all: fc.boolean() }),
);

function run(commands: Command[], opts: { ordered: boolean; rules: QueueRules; maxWindow: number }): void {
  const startAt = 3;
  let state = initialState(startAt);
  const tally: Tally = emptyTally();
  const model = new Model(startAt, opts.rules);
  let now = 1000;
  let logStart = 0;
  let logEnd = startAt;
  const leases: Array<{ offset: number; token: string; expiresAt: number }> = [];
  const acceptedOnce = new Set<number>();
  const keyOf = opts.ordered ? (o: number) => (o % 4 === 3 ? null : `k${(o * 7) % 3}`) : undefined;
  let tokens = 0;
  for (const c of commands) {
    switch (c.t) {
      case 'append':
        logEnd += c.n;
        break;
      case 'tick':
        now += c.ms;
        break;
      case 'expire':
        state = expireLeases(state, now, opts.rules, tally);
        model.expire(now);
        break;
      case 'retention': {
        logStart = Math.min(logEnd, logStart + c.n);
        state = applyRetention(state, logStart, tally);
        model.retention(logStart);
        break;
      }
      case 'dlq': {
        // Append some of the dead records (a partial flush, as when the append fails midway).
        const dead = deadRecords(state).filter((d) => d.offset % 3 !== 0 || c.all);
        state = finishDead(
          state,
          dead.map((d) => d.offset),
          tally,
        );
        model.finishDead(dead.map((d) => d.offset));
        break;
      }
      case 'acquire': {
        const token = `t${tokens++}`;
        const common = { now, max: c.max, lockMs: c.lockMs, token, logEnd, maxWindow: opts.maxWindow };
        const r = acquire(state, { ...common, rules: opts.rules, ...(keyOf ? { keyOf } : {}) }, tally);
        const expected = model.acquire({ ...common, ...(keyOf ? { keyOf } : {}) });
        expect(r.acquired.map((a) => a.offset)).toEqual(expected);
        state = r.state;
        for (const a of r.acquired) leases.push({ offset: a.offset, token, expiresAt: a.expiresAt });
        if (keyOf) {
          const held = [...expand(state).entries()].filter(([, v]) => v.state === 'acquired');
          const keys = held.map(([o]) => keyOf(o)).filter((k) => k !== null);
          expect(new Set(keys).size).toBe(keys.length); // one key never in flight twice
        }
        break;
      }
      case 'ack': {
        if (leases.length === 0) break;
        const lease = leases[c.pick % leases.length]!;
        const r = ack(
          state,
          {
            offset: lease.offset,
            token: lease.token,
            leaseExpiresAt: lease.expiresAt,
            action: c.action,
            now,
            lockMs: 30,
            rules: opts.rules,
          },
          tally,
        );
        const expected = model.ack(lease.offset, lease.token, lease.expiresAt, c.action, now, 30);
        expect(r.status).toBe(expected);
        if (r.status === 'ok' && c.action === 'accept') {
          expect(acceptedOnce.has(lease.offset)).toBe(false);
          acceptedOnce.add(lease.offset);
        }
        state = r.state;
        break;
      }
      case 'acks': {
        if (leases.length === 0) break;
        const picked = c.picks.map((p) => ({ lease: leases[p.pick % leases.length]!, action: p.action }));
        const before = state;
        const r = ackMany(
          state,
          picked.map(({ lease, action }) => ({
            offset: lease.offset,
            token: lease.token,
            leaseExpiresAt: lease.expiresAt,
            action,
          })),
          { now, lockMs: 30, rules: opts.rules },
          tally,
        );
        const expected = picked.map(({ lease, action }) =>
          model.ack(lease.offset, lease.token, lease.expiresAt, action, now, 30),
        );
        expect(r.results.map((x) => x.status)).toEqual(expected);
        // Nothing acknowledged: the very same state comes back (the service then writes nothing).
        if (!expected.includes('ok')) expect(r.state).toBe(before);
        picked.forEach(({ lease, action }, i) => {
          if (expected[i] === 'ok' && action === 'accept') {
            expect(acceptedOnce.has(lease.offset)).toBe(false);
            acceptedOnce.add(lease.offset);
          }
        });
        state = r.state;
        break;
      }
    }
    checkInvariants(state, opts.maxWindow);
    expect(state.startOffset).toBe(model.start);
    expect(state.endOffset).toBe(model.end);
    expect(expand(state)).toEqual(modelView(model));
    expect(tally).toEqual(model.tally);
    expect(decodeRanges(JSON.parse(JSON.stringify(encodeRanges(state.ranges))))).toEqual(state.ranges);
  }
}

describe('queue partition state (ranges) against a per-record model', () => {
  const rules = fc.record({
    maxDeliveries: fc.integer({ min: 1, max: 4 }),
    hasDeadLetterTopic: fc.boolean(),
  });

  it('agrees with the model for unordered queues, and never accepts a record twice', () => {
    fc.assert(
      fc.property(fc.array(command, { maxLength: 80 }), rules, fc.integer({ min: 4, max: 40 }), (cmds, r, w) =>
        run(cmds, { ordered: false, rules: r, maxWindow: w }),
      ),
      { numRuns: 300 },
    );
  });

  it('agrees with the model for ordered_by_key queues and never holds one key twice', () => {
    fc.assert(
      fc.property(fc.array(command, { maxLength: 80 }), rules, fc.integer({ min: 4, max: 40 }), (cmds, r, w) =>
        run(cmds, { ordered: true, rules: r, maxWindow: w }),
      ),
      { numRuns: 300 },
    );
  });

  it('stores a window acquired by a few receives as a few ranges', () => {
    let s = initialState(0);
    const t = emptyTally();
    const rules = { maxDeliveries: 5, hasDeadLetterTopic: false };
    for (let i = 0; i < 10; i++)
      s = acquire(
        s,
        { now: 0, max: 100, lockMs: 1000, token: `t${i}`, logEnd: 10_000, maxWindow: 5000, rules },
        t,
      ).state;
    expect(s.endOffset).toBe(1000);
    expect(s.ranges).toHaveLength(10);
    for (let o = 0; o < 500; o++)
      s = ack(
        s,
        {
          offset: o,
          token: `t${Math.floor(o / 100)}`,
          leaseExpiresAt: 1000,
          action: 'accept',
          now: 1,
          lockMs: 0,
          rules,
        },
        t,
      ).state;
    expect(s.startOffset).toBe(500);
    expect(s.ranges).toHaveLength(5);
  });
});
