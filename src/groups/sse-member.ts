// An SSE group member: the open connection is the membership. It joins, streams the records
// of whatever it is assigned (announcing each new assignment), and leaves when the client goes.
// Every record event's `id:` is a group cursor; a reconnect's Last-Event-ID commits it.
import { errorFrame, idTail, KEEPALIVE_FRAME, retryFrame, shutdownFrame } from '../delivery/sse-frame.js';
import type { SseSink } from '../delivery/sse-sink.js';
import type { StreamRegistry } from '../delivery/stream-registry.js';
import type { Result } from '../lib/result.js';
import { encodeGroupCursor, type CursorEntry } from './group-cursor.js';
import type { GroupError } from './group-errors.js';
import type { DeliveredBatch, FetchRequest, FetchResult } from './member-fetch.js';
import type { JoinRequest, MemberView } from './membership.js';

/** What the stream needs from the groups service. */
export interface SseGroupPort {
  join(group: string, req: JoinRequest): Promise<Result<MemberView, GroupError>>;
  fetch(group: string, memberId: string, req: FetchRequest): Promise<Result<FetchResult, GroupError>>;
  heartbeat(group: string, memberId: string): Promise<Result<MemberView, GroupError>>;
  leave(group: string, memberId: string): Promise<Result<void, GroupError>>;
  commitCursor(group: string, topics: readonly string[], entries: readonly CursorEntry[]): Promise<void>;
}

export interface SseMemberOptions {
  groups: SseGroupPort;
  registry: StreamRegistry;
  group: string;
  join: Omit<JoinRequest, 'kind'>;
  retryMs: number;
  keepaliveMs: number;
  maxRecords: number;
  maxBytes: number;
  /** The decoded Last-Event-ID of a reconnect: committed (forward only) before joining, with auto-commit. */
  resume?: readonly CursorEntry[] | undefined;
  logger?: { warn(obj: object, msg: string): void };
}

/**
 * Join first (so a bad request can still be answered with an error status), then `run`.
 * Records are sent as `event: record` with `id:` = a group cursor of every position this
 * connection delivered up to and including that record. Nothing written to the socket is ever
 * committed by the server: with auto-commit, the cursor an EventSource sends back as
 * Last-Event-ID when it reconnects is committed before the new member joins (so the stream
 * resumes exactly after it); without, the client commits with the member id and generation.
 */
export class SseGroupMember {
  private readonly stop = new AbortController();
  private ended = false;
  private shuttingDown = false;
  private lastContact = Date.now();
  private drainWaiter: ((drained: boolean) => void) | undefined;
  private sink: SseSink | undefined;
  /** Next offset per partition this connection delivered (key: topic id / partition). */
  private readonly sent = new Map<string, CursorEntry>();

  constructor(
    private readonly o: SseMemberOptions,
    readonly member: MemberView,
    /** The first fetch, made before the stream is answered so a position error gets a status. */
    private first: FetchResult | undefined,
  ) {}

  static async join(o: SseMemberOptions): Promise<Result<SseGroupMember, GroupError>> {
    if (o.resume && o.join.autoCommit) await o.groups.commitCursor(o.group, o.join.topics, o.resume);
    const joined = await o.groups.join(o.group, { ...o.join, kind: 'sse' });
    if (!joined.ok) return joined;
    const first = await o.groups.fetch(o.group, joined.value.memberId, {
      maxRecords: o.maxRecords,
      maxBytes: o.maxBytes,
      waitMs: 0,
    });
    if (!first.ok) {
      // E.g. auto_offset_reset none and no usable offset: an error status stops EventSource
      // (an error event would only make it reconnect into the same error, forever).
      await o.groups.leave(o.group, joined.value.memberId).catch(() => undefined);
      return first;
    }
    return { ok: true, value: new SseGroupMember(o, joined.value, first.value) };
  }

  /** Stream until the client disconnects, the member is fenced, or the server shuts down. */
  async run(sink: SseSink): Promise<void> {
    const { registry, group } = this.o;
    this.sink = sink;
    let unregister: () => void = () => undefined;
    try {
      unregister = registry.register({
        description: `sse group ${group} member ${this.member.memberId}`,
        close: () => {
          this.shuttingDown = true;
          this.stop.abort();
        },
      });
    } catch {
      this.shuttingDown = true;
    }
    sink.onClose(() => {
      this.stop.abort();
      this.drainWaiter?.(false);
    });
    sink.onDrain(() => this.drainWaiter?.(true));
    const heartbeat = this.startHeartbeats();
    try {
      sink.write(retryFrame(this.o.retryMs));
      this.event('member', {
        member_id: this.member.memberId,
        generation: this.member.generation,
        assignment: this.member.assignment,
      });
      let generation = this.member.generation;
      let confirm: CursorEntry[] = [];
      while (!this.stop.signal.aborted && !this.shuttingDown) {
        let r: Result<FetchResult, GroupError>;
        if (this.first) {
          r = { ok: true, value: this.first };
          this.first = undefined;
        } else {
          // `confirm` moves this member's positions past what was written (not committed).
          r = await this.o.groups.fetch(group, this.member.memberId, {
            maxRecords: this.o.maxRecords,
            maxBytes: this.o.maxBytes,
            waitMs: this.waitMs(),
            signal: this.stop.signal,
            confirm,
          });
        }
        this.lastContact = Date.now();
        if (!r.ok) {
          sink.write(errorFrame({ ...r.error }));
          break;
        }
        if (r.value.generation !== generation) {
          generation = r.value.generation;
          this.event('assignment', { generation, assignment: r.value.assignment });
        }
        for (const gap of r.value.gaps) {
          this.event('gap', {
            topic: gap.topic,
            partition: gap.partition,
            from_offset: gap.fromOffset,
            to_offset: gap.toOffset,
          });
        }
        if (r.value.batches.length === 0) {
          if (r.value.gaps.length === 0) sink.write(KEEPALIVE_FRAME);
          continue;
        }
        confirm = r.value.batches.map((b) => ({ topicId: b.topicId, partition: b.partition, offset: b.nextOffset }));
        if (!sink.write(this.recordEvents(r.value))) await this.drained();
      }
      if (this.shuttingDown && !sink.closed) sink.write(shutdownFrame(this.o.retryMs));
    } catch (error) {
      this.o.logger?.warn({ err: error, group }, 'sse group member stream failed');
      if (!sink.closed)
        sink.write(errorFrame({ code: 'unavailable', message: 'group coordination failed; reconnect' }));
    } finally {
      clearInterval(heartbeat);
      await this.leave();
      this.ended = true;
      sink.end();
      unregister();
    }
  }

  /** `event: record` frames, each with the cursor of everything delivered up to it as `id:`. */
  private recordEvents(fetched: FetchResult): Buffer {
    return recordEventFrames(fetched.batches, this.sent);
  }

  private event(type: string, body: unknown): void {
    this.sink?.write(Buffer.from(`event: ${type}\ndata: ${JSON.stringify(body)}\n\n`));
  }

  /** Long-poll length: short enough to keep the session and to send keepalives. */
  private waitMs(): number {
    return Math.max(0, Math.min(this.o.keepaliveMs, Math.floor(this.o.join.sessionTimeoutMs / 3)));
  }

  /** While blocked on a slow client, heartbeats keep the session (fetches do otherwise). */
  private startHeartbeats(): NodeJS.Timeout {
    const every = Math.max(50, Math.floor(this.o.join.sessionTimeoutMs / 3));
    const timer = setInterval(() => {
      if (this.ended || Date.now() - this.lastContact < every) return;
      this.lastContact = Date.now();
      void this.o.groups.heartbeat(this.o.group, this.member.memberId).then(
        (r) => {
          if (!r.ok) this.stop.abort();
        },
        () => undefined,
      );
    }, every);
    timer.unref();
    return timer;
  }

  private drained(): Promise<boolean> {
    return new Promise((resolve) => {
      if (this.sink?.closed !== false) return resolve(false);
      this.drainWaiter = (v) => {
        this.drainWaiter = undefined;
        resolve(v);
      };
    });
  }

  private async leave(): Promise<void> {
    try {
      await this.o.groups.leave(this.o.group, this.member.memberId);
    } catch (error) {
      // Postgres unreachable: the session timeout removes the member instead.
      this.o.logger?.warn(
        { err: error, group: this.o.group },
        'sse group member could not leave; its session will expire',
      );
    }
  }
}

/** What precedes a record's JSON in its event (`recordHead`'s first line and `data: `). */
const RECORD_EVENT_HEAD = 'event: record\ndata: ';

/**
 * The `event: record` frames of delivered batches, written straight to bytes: each record's
 * `id:` is the group cursor of every position delivered so far on this connection (`sent`,
 * updated here, key: topic id / partition) up to and including that record.
 */
export function recordEventFrames(batches: readonly DeliveredBatch[], sent: Map<string, CursorEntry>): Buffer {
  const frames = batches.map((b) => {
    const key = `${b.topicId}/${b.partition}`;
    // The writer asks for each record's tail once, in order: the cursor after that record.
    return b.json.frames(RECORD_EVENT_HEAD, (rec) => {
      sent.set(key, { topicId: b.topicId, partition: b.partition, offset: rec.offset + 1 });
      return `\n${idTail(encodeGroupCursor([...sent.values()]))}`;
    });
  });
  return frames.length === 1 ? frames[0]! : Buffer.concat(frames);
}
