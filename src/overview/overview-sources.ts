// The overview's sources wired to the real services: topics and partition stats from memory,
// groups and webhooks from Postgres, readiness as /readyz judges it, and the traffic counters.
import type { GroupsService } from '../groups/groups-service.js';
import type { LogStore } from '../log/index.js';
import type { MetadataConnection, MetadataDb } from '../metadata/connection.js';
import type { TrafficMetrics } from '../metrics-traffic.js';
import type { TopicsService } from '../topics/topics-service.js';
import type { WebhooksService } from '../webhooks/webhooks-service.js';
import { collectGroupLags } from './group-lags.js';
import type { OverviewHealth, OverviewSources } from './overview-service.js';

const DB_PING_TIMEOUT_MS = 2_000;

export function overviewSources(s: {
  topics: TopicsService;
  log: LogStore;
  groups: GroupsService;
  webhooks: WebhooksService;
  metadata: MetadataConnection;
  db: MetadataDb;
  traffic: TrafficMetrics;
  closing: () => boolean;
}): OverviewSources {
  return {
    topics: () => s.topics.cached(),
    partition: (topicId, partition) => {
      const log = s.log.getPartition(topicId, partition);
      return log ? { start: log.startOffset(), end: log.endOffset(), size: log.sizeBytes() } : undefined;
    },
    groups: () => collectGroupLags(s),
    webhooks: async () =>
      (await s.webhooks.list()).map((w) => ({
        id: w.row.id,
        topic: w.row.topic,
        url: w.row.url,
        state: w.state,
        lag: w.lag,
      })),
    health: async (): Promise<OverviewHealth> => {
      let dbError: string | undefined;
      try {
        await s.metadata.ping(DB_PING_TIMEOUT_MS);
      } catch (e) {
        dbError = e instanceof Error ? e.message : String(e);
      }
      const quarantined = s.log
        .quarantined()
        .map((q) => ({ topic_id: q.topicId, partition: q.partition, reason: q.reason }));
      const readOnly: OverviewHealth['read_only'] = [];
      for (const id of s.log.topicIds()) {
        for (const p of s.log.partitions(id)) {
          const w = s.log.getPartition(id, p)?.writable();
          if (w && !w.ok) readOnly.push({ topic_id: id, partition: p, reason: w.reason });
        }
      }
      const reasons = [
        ...(dbError ? [`database: ${dbError}`] : []),
        ...quarantined.map((q) => `partition ${q.topic_id}/${q.partition} quarantined: ${q.reason}`),
        ...readOnly.map((r) => `partition ${r.topic_id}/${r.partition} read-only: ${r.reason}`),
        ...(s.closing() ? ['shutting down'] : []),
      ];
      return {
        status: reasons.length === 0 ? 'ready' : 'not_ready',
        database_ok: dbError === undefined,
        quarantined,
        read_only: readOnly,
        reasons,
      };
    },
    totals: () => ({ ...s.traffic.totals(), sseStreams: s.traffic.bytesOut.sseStreams }),
    now: Date.now,
  };
}
