// The cluster at a glance, once per interval while anyone watches: topics (sizes, offsets, records/s),
// groups (state, lag), webhooks (state, backlog), health and process rates; each watcher sees its share.
import type { Grant } from '../auth/grants.js';
import { allows, CLUSTER_NAME } from '../auth/grants.js';
import type { TrafficTotals } from '../metrics-traffic.js';

export interface OverviewTopic {
  name: string;
  partitions: number;
  size_bytes: number;
  /** Sum over partitions of the first retained offset / the next offset. */
  start_offset: number;
  end_offset: number;
  /** Records appended per second over the last interval. */
  records_in_per_sec: number;
}

export interface OverviewGroup {
  name: string;
  state: string;
  generation: number;
  members: number;
  total_lag: number;
}

export interface OverviewWebhook {
  id: string;
  topic: string;
  url: string;
  state: string;
  lag: number;
}

export interface OverviewHealth {
  status: 'ready' | 'not_ready';
  database_ok: boolean;
  /** Partitions quarantined (corruption) or refusing writes, as /readyz lists them. */
  quarantined: Array<{ topic_id: string; partition: number; reason: string }>;
  read_only: Array<{ topic_id: string; partition: number; reason: string }>;
  reasons: string[];
}

export interface OverviewRates {
  records_in_per_sec: number;
  records_read_per_sec: number;
  bytes_in_per_sec: number;
  bytes_out_per_sec: number;
  sse_streams: number;
}

export interface Overview {
  at: number;
  interval_ms: number;
  /** Null without cluster:describe. */
  health: OverviewHealth | null;
  rates: OverviewRates | null;
  topics: OverviewTopic[];
  groups: OverviewGroup[];
  webhooks: OverviewWebhook[];
  /** Set when groups/webhooks could not be read this time (Postgres down): they are the last known. */
  stale: string | null;
}

/** What the overview reads, as narrow ports (tests can fake them). */
export interface OverviewSources {
  topics(): Array<{ id: string; name: string; partitions: number }>;
  partition(topicId: string, partition: number): { start: number; end: number; size: number } | undefined;
  groups(): Promise<OverviewGroup[]>;
  webhooks(): Promise<OverviewWebhook[]>;
  health(): Promise<OverviewHealth>;
  totals(): TrafficTotals & { sseStreams: number };
  now(): number;
}

type Listener = (snapshot: Overview) => void;

export class OverviewService {
  private readonly listeners = new Set<Listener>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private last: Overview | undefined;
  private previous: { at: number; totals: TrafficTotals; ends: Map<string, number> } | undefined;

  constructor(
    private readonly sources: OverviewSources,
    readonly intervalMs: number,
  ) {}

  /** Receive a snapshot now (the last one, if fresh) and after every interval; returns the unsubscribe. */
  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    if (this.last && this.sources.now() - this.last.at < this.intervalMs) listener(this.last);
    else void this.tick();
    this.timer ??= setInterval(() => void this.tick(), this.intervalMs).unref();
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.stop();
    };
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  get watchers(): number {
    return this.listeners.size;
  }

  /** One snapshot for every watcher; skipped while the previous one is still being built. */
  private async tick(): Promise<void> {
    if (this.running || this.listeners.size === 0) return;
    this.running = true;
    try {
      const snapshot = await this.build();
      this.last = snapshot;
      for (const listener of [...this.listeners]) listener(snapshot);
    } finally {
      this.running = false;
    }
  }

  private async build(): Promise<Overview> {
    const s = this.sources;
    const at = s.now();
    const totals = s.totals();
    const prev = this.previous;
    const seconds = prev ? Math.max(0.001, (at - prev.at) / 1000) : 0;
    const rate = (now: number, before: number | undefined): number =>
      prev && before !== undefined ? Math.max(0, Math.round(((now - before) / seconds) * 10) / 10) : 0;

    const ends = new Map<string, number>();
    const topics: OverviewTopic[] = s.topics().map((t) => {
      let size = 0;
      let start = 0;
      let end = 0;
      for (let p = 0; p < t.partitions; p++) {
        const stats = s.partition(t.id, p);
        if (!stats) continue;
        size += stats.size;
        start += stats.start;
        end += stats.end;
      }
      ends.set(t.id, end);
      return {
        name: t.name,
        partitions: t.partitions,
        size_bytes: size,
        start_offset: start,
        end_offset: end,
        records_in_per_sec: rate(end, prev?.ends.get(t.id)),
      };
    });

    let stale: string | null = null;
    let groups = this.last?.groups ?? [];
    let webhooks = this.last?.webhooks ?? [];
    try {
      [groups, webhooks] = await Promise.all([s.groups(), s.webhooks()]);
    } catch (e) {
      stale = `groups and webhooks are the last known: ${e instanceof Error ? e.message : String(e)}`;
    }
    const health = await s.health();
    this.previous = { at, totals, ends };
    return {
      at,
      interval_ms: this.intervalMs,
      health,
      rates: {
        records_in_per_sec: rate(totals.recordsIn, prev?.totals.recordsIn),
        records_read_per_sec: rate(totals.recordsRead, prev?.totals.recordsRead),
        bytes_in_per_sec: rate(totals.bytesIn, prev?.totals.bytesIn),
        bytes_out_per_sec: rate(totals.bytesOut, prev?.totals.bytesOut),
        sse_streams: totals.sseStreams,
      },
      topics,
      groups,
      webhooks,
      stale,
    };
  }
}

/** The part of a snapshot `grants` may see: what it may describe; health and rates need cluster:describe. */
export function overviewFor(snapshot: Overview, grants: readonly Grant[]): Overview {
  const cluster = allows(grants, 'cluster', CLUSTER_NAME, 'describe');
  return {
    ...snapshot,
    health: cluster ? snapshot.health : null,
    rates: cluster ? snapshot.rates : null,
    topics: snapshot.topics.filter((t) => allows(grants, 'topic', t.name, 'describe')),
    groups: snapshot.groups.filter((g) => allows(grants, 'group', g.name, 'describe')),
    webhooks: snapshot.webhooks.filter((w) => allows(grants, 'webhook', w.topic, 'describe')),
  };
}
