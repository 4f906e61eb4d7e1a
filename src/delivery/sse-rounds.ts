// Flush rounds for SSE sinks: what every sink holds leaves in one socket write per round, rounds
// written in slices and held after long ones; the readers of a grown feed join the next round.
import type { FeedReader, SseFeed } from './sse-feed.js';

/** What the rounds need from a sink (NodeResponseSink); a feed's readers are such sinks. */
export interface RoundSink extends FeedReader {
  /** In the next round (set and cleared by the rounds; set by the sink through queueForRound). */
  queued: boolean;
  /** Hand what is held to the connection (`inRound`: frames held by other sinks too are joined once). */
  flush(inRound?: boolean): void;
  /** A feed it reads grew: flush on the next turn if the backlog is large (flushSoon). */
  checkUrgent(): void;
  /** After a flush outside a round: let its feed drop what it has written. */
  trimFeed(): void;
}

/**
 * Sinks holding bytes for the next flush round. One round writes them all, so a fan-out batch
 * to 10k subscribers schedules one callback, not one per subscriber (with AsyncLocalStorage on,
 * every tick or immediate object also runs the async-hooks init).
 *
 * A round starts once per event-loop turn (setImmediate, after the I/O callbacks of the turn), so
 * everything delivered during the turn leaves together: one socket write per subscriber per
 * round, however many batches it carries. A round of thousands of socket writes takes long
 * (~10–40 µs each on loopback, mostly in the kernel), so it is written in slices of about
 * ROUND_SLICE_MS, one per loop turn: between slices the loop takes in appends, and a subscriber
 * the round has not reached yet gets them in this round (a subscriber waits at most about one
 * round for an event, not the rest of the current round and then its own place in the next one).
 * After a round that spent `d` ms writing, the next one waits until `d × ROUND_HOLD_RATIO` (at
 * most MAX_ROUND_HOLD_MS) has passed; the loop meanwhile takes in appends and acknowledges
 * produces, and the next round carries all of them — under more load than one core can write,
 * rounds grow instead of queueing. A round of fewer than MIN_HELD_ROUND_SINKS sinks holds
 * nothing (it takes microseconds; a longer one is the scheduler's doing, not its writes).
 */
const ROUND_HOLD_RATIO = 0.5;
const MAX_ROUND_HOLD_MS = 1000;
/** Below this the hold is not worth a timer: the round runs on the next loop turn. */
const MIN_ROUND_HOLD_MS = 1;
const MIN_HELD_ROUND_SINKS = 100;
/** A round yields to the loop after writing this long (checked every ROUND_SLICE_CHECK sinks). */
const ROUND_SLICE_MS = 5;
const ROUND_SLICE_CHECK = 32;

/**
 * A round writes each subscriber's held frames as one Buffer (at most JOIN_MAX_BYTES; larger, a
 * catch-up read's batch, goes corked without a copy). Subscribers at the same position hold the
 * same frame Buffers (a batch is encoded once for all), so the round joins each distinct sequence
 * once and every such subscriber's socket gets that one Buffer: one plain write instead of cork,
 * N writes and uncork (~10–20 % less CPU per subscriber with several frames held, measured).
 */
export const JOIN_MAX_BYTES = 64 * 1024;
let joinedFrames = new Map<Buffer, { frames: Buffer[]; bytes: Buffer }>();

/** `frames` as one Buffer, shared with every sink of this round that holds the same frames. */
export function joined(frames: Buffer[], length: number): Buffer {
  const first = frames[0] as Buffer;
  const known = joinedFrames.get(first);
  if (known && known.frames.length === frames.length && known.frames.every((f, i) => f === frames[i]))
    return known.bytes;
  const bytes = Buffer.concat(frames, length);
  // Replaces a different sequence from the same frame on: the sinks after this one more likely
  // hold this one (an append during the round lengthens the sequence of those not reached yet).
  joinedFrames.set(first, { frames: frames.slice(), bytes });
  return bytes;
}

/** Sinks written to since their turn in the round (or since the last round): the next round. */
let dirty: RoundSink[] = [];
/** Feeds appended to since the last round started: their readers are in the next round. */
let dirtyFeeds: SseFeed[] = [];
/** The feeds of the round being written: trimmed once it is done. */
let roundFeeds: SseFeed[] = [];
/** The round being written, from `roundAt` on (still `queued`); empty between rounds. */
let round: RoundSink[] = [];
let roundAt = 0;
/** Time the current round has spent writing, over its slices (not the loop turns between them). */
let roundWriteMs = 0;
/** A round is scheduled or under way. */
let flushScheduled = false;
/** No round before this time (performance.now()): the hold after the last round. */
let holdUntil = 0;
/**
 * A sink holding this much with an empty socket (a catch-up read's batch, up to 256 KiB) is
 * flushed on the next turn, not held for the round: 64 KiB, or twice the socket's high-water mark
 * where that is larger (16 KiB on Node 20, 64 KiB from Node 22), so the few 10-record batches a
 * live subscriber gathers during a hold still wait for the round.
 */
export function urgentBacklogBytes(socketHighWaterMark: number): number {
  return Math.max(64 * 1024, 2 * socketHighWaterMark);
}
/** Sinks holding urgentBacklogBytes() with an empty socket: flushed on the next turn, not held. */
let urgent: RoundSink[] = [];
let urgentScheduled = false;

function scheduleRound(): void {
  if (flushScheduled) return;
  flushScheduled = true;
  const wait = holdUntil - performance.now();
  if (wait >= MIN_ROUND_HOLD_MS) setTimeout(flushDirty, wait);
  else setImmediate(flushDirty);
}

function flushDirty(): void {
  if (roundAt === 0) {
    // A new round: what was written since the last one. A sink written after its turn (by an
    // append, or by a drain listener its flush ran) goes into the next round.
    const next = dirty;
    dirty = round;
    round = next;
    roundWriteMs = 0;
    // Each reader of a feed appended to since the last round (one append per batch for all of
    // them) is in this round once, like a sink written to.
    for (const feed of dirtyFeeds) {
      feed.queued = false;
      roundFeeds.push(feed);
      for (const reader of feed.readers) {
        const sink = reader as RoundSink;
        if (sink.queued) continue;
        sink.queued = true;
        round.push(sink);
      }
    }
    dirtyFeeds = [];
  }
  const start = performance.now();
  let i = roundAt;
  while (i < round.length) {
    const sink = round[i++] as RoundSink;
    sink.queued = false;
    sink.flush(true);
    if (i % ROUND_SLICE_CHECK === 0 && performance.now() - start >= ROUND_SLICE_MS) break;
  }
  const end = performance.now();
  roundWriteMs += end - start;
  if (i < round.length) {
    roundAt = i;
    setImmediate(flushDirty);
    return;
  }
  const sinks = round.length;
  round.length = 0;
  roundAt = 0;
  if (joinedFrames.size > 0) joinedFrames = new Map();
  for (const feed of roundFeeds) feed.trim();
  roundFeeds = [];
  if (sinks >= MIN_HELD_ROUND_SINKS) holdUntil = end + Math.min(roundWriteMs * ROUND_HOLD_RATIO, MAX_ROUND_HOLD_MS);
  flushScheduled = false;
  if (dirty.length > 0 || dirtyFeeds.length > 0) scheduleRound();
}

/**
 * A feed grew: its readers go into the next round. A small feed's reader (a client replaying on
 * its own tail) with a large backlog and an empty socket is flushed on the next turn, as a sink
 * written that much is (urgentBacklogBytes); a large feed's readers wait for the round together.
 */
export function feedAppended(feed: SseFeed): void {
  if (!feed.queued) {
    feed.queued = true;
    dirtyFeeds.push(feed);
    scheduleRound();
  }
  if (feed.readers.size < MIN_HELD_ROUND_SINKS) for (const reader of feed.readers) (reader as RoundSink).checkUrgent();
}

function flushUrgent(): void {
  urgentScheduled = false;
  const sinks = urgent;
  urgent = [];
  // Each stays in `dirty` too; its turn in the round then finds nothing left to write.
  for (const sink of sinks) sink.flush();
  for (const sink of sinks) sink.trimFeed();
}

/** Put `sink` (not yet `queued`) into the next round. */
export function queueForRound(sink: RoundSink): void {
  sink.queued = true;
  dirty.push(sink);
  scheduleRound();
}

/** Flush `sink` on the next loop turn, without waiting for the round's hold (urgentBacklogBytes). */
export function flushSoon(sink: RoundSink): void {
  urgent.push(sink);
  if (!urgentScheduled) {
    urgentScheduled = true;
    setImmediate(flushUrgent);
  }
}
