// The cluster at a glance, once per interval while anyone watches: topics (sizes, offsets, records/s),
// groups (state, lag), webhooks (state, backlog), health and process rates; each watcher sees its share.
import type { Grant } from '../auth/grants.js';
import { allows, CLUSTER_NAME } from '../auth/grants.js';
import type { TrafficTotals } from '../metrics-traffic.js';
import type {
  Overview,
  OverviewGroup,
  OverviewHealth,
  OverviewHistory,
  OverviewRates,
  OverviewTopic,
  OverviewWebhook,
} from './overview-wire.js';

export type { Overview, OverviewGroup, OverviewHealth, OverviewHistory, OverviewRates, OverviewTopic, OverviewWebhook };

/** What the overview reads, as narrow ports (tests can fake them). */
export interface OverviewSources {
  topics(): Array<{ id: string; name: string; partitions: number }>;
  partition(topicId: string, partition: number): { start: number; end: number; size: number } | undefined;
  /** `topicLags`: total_lag by topic, for watchers that may not describe every topic (never sent). */
  groups(): Promise<Array<OverviewGroup & { topicLags?: ReadonlyMap<string, number> }>>;
  webhooks(): Promise<OverviewWebhook[]>;
  health(): Promise<OverviewHealth>;
  totals(): TrafficTotals & { sseStreams: number };
  now(): number;
}

type Listener = (snapshot: Overview) => void;

/** How much rate history is kept for charts. */
const HISTORY_MS = 5 * 60_000;

export class OverviewService {
  private readonly listeners = new Set<Listener>();
  /** Listeners that have not had a snapshot yet: theirs carries the history. */
  private readonly fresh = new Set<Listener>();
  private timer: NodeJS.Timeout | undefined;
  private sampler: NodeJS.Timeout | undefined;
  private running = false;
  /** When the next snapshot may be built: a slow build (many groups, a busy database) spaces them out. */
  private notBefore = 0;
  private last: Overview | undefined;
  private previous: { at: number; totals: TrafficTotals; ends: Map<string, number> } | undefined;
  /** Process totals sampled every interval, watched or not (a few numbers: cheap), for the rates. */
  private readonly samples: Array<{ at: number; totals: TrafficTotals }> = [];

  constructor(
    private readonly sources: OverviewSources,
    readonly intervalMs: number,
  ) {}

  /** Start sampling the process rates, so a dashboard opened later still charts the last minutes. */
  start(): void {
    this.sample();
    this.sampler ??= setInterval(() => this.sample(), this.intervalMs).unref();
  }

  private sample(): void {
    const at = this.sources.now();
    this.samples.push({ at, totals: this.sources.totals() });
    while (this.samples.length > 2 && this.samples[0]!.at < at - HISTORY_MS - this.intervalMs) this.samples.shift();
  }

  /**
   * Rates between consecutive samples of the last minutes, up to `until` (the snapshot they go
   * with: samples the sampler took while it was being built come with the next one's rates).
   */
  history(until = Number.POSITIVE_INFINITY): OverviewHistory {
    const h: OverviewHistory = {
      at: [],
      records_in_per_sec: [],
      records_read_per_sec: [],
      bytes_in_per_sec: [],
      bytes_out_per_sec: [],
    };
    for (let i = 1; i < this.samples.length; i++) {
      const a = this.samples[i - 1]!;
      const b = this.samples[i]!;
      if (b.at > until) break;
      const seconds = Math.max(0.001, (b.at - a.at) / 1000);
      const r = (k: keyof TrafficTotals) => Math.max(0, Math.round(((b.totals[k] - a.totals[k]) / seconds) * 10) / 10);
      h.at.push(b.at);
      h.records_in_per_sec.push(r('recordsIn'));
      h.records_read_per_sec.push(r('recordsRead'));
      h.bytes_in_per_sec.push(r('bytesIn'));
      h.bytes_out_per_sec.push(r('bytesOut'));
    }
    return h;
  }

  /** Receive a snapshot now (the last one, if fresh) and after every interval; returns the unsubscribe. */
  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    if (this.last && this.sources.now() - this.last.at < this.intervalMs) {
      listener({ ...this.last, history: this.history(this.last.at) });
    } else {
      this.fresh.add(listener);
      void this.tick();
    }
    this.timer ??= setInterval(() => void this.tick(), this.intervalMs).unref();
    return () => {
      this.listeners.delete(listener);
      this.fresh.delete(listener);
      if (this.listeners.size === 0) this.stopWatching();
    };
  }

  private stopWatching(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Stop everything (shutdown). */
  stop(): void {
    this.stopWatching();
    clearInterval(this.sampler);
    this.sampler = undefined;
  }

  get watchers(): number {
    return this.listeners.size;
  }

  /** One snapshot for every watcher; skipped while the previous one is still being built. */
  private async tick(): Promise<void> {
    if (this.running || this.listeners.size === 0) return;
    if (this.fresh.size === 0 && this.sources.now() < this.notBefore) return;
    this.running = true;
    const started = this.sources.now();
    try {
      const snapshot = await this.build();
      // At most a quarter of the time goes to building snapshots, however slow the sources are.
      this.notBefore = started + 4 * (this.sources.now() - started);
      this.last = snapshot;
      let history: OverviewHistory | undefined;
      for (const listener of [...this.listeners]) {
        if (this.fresh.delete(listener)) listener({ ...snapshot, history: (history ??= this.history(snapshot.at)) });
        else listener(snapshot);
      }
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
    ...(snapshot.history !== undefined ? { history: cluster ? snapshot.history : null } : {}),
    topics: snapshot.topics.filter((t) => allows(grants, 'topic', t.name, 'describe')),
    groups: snapshot.groups.filter((g) => allows(grants, 'group', g.name, 'describe')).map((g) => groupFor(g, grants)),
    webhooks: snapshot.webhooks.filter((w) => allows(grants, 'webhook', w.topic, 'describe')),
  };
}

/**
 * A group as `grants` may see it: its total_lag sums only the topics they may describe, as
 * GET /v1/groups/{group} shows only those topics' lag (Kafka's OffsetFetch filters by topic).
 */
function groupFor(
  g: OverviewGroup & { topicLags?: ReadonlyMap<string, number> },
  grants: readonly Grant[],
): OverviewGroup {
  const { topicLags, ...group } = g;
  if (topicLags === undefined) return group;
  let lag = 0;
  for (const [topic, n] of topicLags) if (allows(grants, 'topic', topic, 'describe')) lag += n;
  return { ...group, total_lag: lag };
}
