// An SSE group member: the open connection is the membership. It joins, streams the records
// of whatever it is assigned (announcing each new assignment), and leaves when the client goes.
import { errorFrame, KEEPALIVE_FRAME, retryFrame, shutdownFrame } from '../delivery/sse-frame.js';
import type { SseSink } from '../delivery/sse-sink.js';
import type { StreamRegistry } from '../delivery/stream-registry.js';
import type { Result } from '../lib/result.js';
import type { GroupError } from './group-errors.js';
import type { FetchRequest, FetchResult } from './member-fetch.js';
import type { JoinRequest, MemberView } from './membership.js';

/** What the stream needs from the groups service. */
export interface SseGroupPort {
  join(group: string, req: JoinRequest): Promise<Result<MemberView, GroupError>>;
  fetch(group: string, memberId: string, req: FetchRequest): Promise<Result<FetchResult, GroupError>>;
  heartbeat(group: string, memberId: string): Promise<Result<MemberView, GroupError>>;
  leave(group: string, memberId: string, options?: { commitDelivered?: boolean }): Promise<Result<void, GroupError>>;
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
  logger?: { warn(obj: object, msg: string): void };
}

/**
 * Join first (so a bad request can still be answered with an error status), then `run`.
 * Records are sent as `event: record`; a fetch happens only after the previous batch has
 * drained into the socket, and with auto-commit that fetch commits it — so a commit covers
 * only records handed to the connection. A vanished client's last batch is not committed.
 */
export class SseGroupMember {
  private readonly stop = new AbortController();
  private ended = false;
  private shuttingDown = false;
  private lastContact = Date.now();
  private drainWaiter: ((drained: boolean) => void) | undefined;
  private sink: SseSink | undefined;

  constructor(
    private readonly o: SseMemberOptions,
    readonly member: MemberView,
  ) {}

  static async join(o: SseMemberOptions): Promise<Result<SseGroupMember, GroupError>> {
    const joined = await o.groups.join(o.group, { ...o.join, kind: 'sse' });
    if (!joined.ok) return joined;
    return { ok: true, value: new SseGroupMember(o, joined.value) };
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
    let commitDelivered = true;
    try {
      sink.write(retryFrame(this.o.retryMs));
      this.event('member', {
        member_id: this.member.memberId,
        generation: this.member.generation,
        assignment: this.member.assignment,
      });
      let generation = this.member.generation;
      while (!this.stop.signal.aborted && !this.shuttingDown) {
        const r = await this.o.groups.fetch(group, this.member.memberId, {
          maxRecords: this.o.maxRecords,
          maxBytes: this.o.maxBytes,
          waitMs: this.waitMs(),
          signal: this.stop.signal,
        });
        this.lastContact = Date.now();
        if (!r.ok) {
          sink.write(errorFrame({ ...r.error }));
          break;
        }
        if (r.value.generation !== generation) {
          generation = r.value.generation;
          this.event('assignment', { generation, assignment: r.value.assignment });
        }
        if (r.value.records.length === 0) {
          sink.write(KEEPALIVE_FRAME);
          continue;
        }
        const text = r.value.records.map((rec) => `event: record\ndata: ${JSON.stringify(rec)}\n\n`).join('');
        if (!sink.write(Buffer.from(text))) {
          const drained = await this.drained();
          if (!drained) commitDelivered = false; // the client went away with this batch unread
        }
      }
      if (this.shuttingDown && !sink.closed) sink.write(shutdownFrame(this.o.retryMs));
    } catch (error) {
      this.o.logger?.warn({ err: error, group }, 'sse group member stream failed');
      if (!sink.closed)
        sink.write(errorFrame({ code: 'unavailable', message: 'group coordination failed; reconnect' }));
    } finally {
      clearInterval(heartbeat);
      if (sink.closed) commitDelivered = false;
      await this.leave(commitDelivered);
      this.ended = true;
      sink.end();
      unregister();
    }
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

  private async leave(commitDelivered: boolean): Promise<void> {
    try {
      await this.o.groups.leave(this.o.group, this.member.memberId, { commitDelivered });
    } catch (error) {
      // Postgres unreachable: the session timeout removes the member instead.
      this.o.logger?.warn(
        { err: error, group: this.o.group },
        'sse group member could not leave; its session will expire',
      );
    }
  }
}
