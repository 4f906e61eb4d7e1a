// Every group's total lag without a transaction per group: groups with members are described
// (their lag counts partitions not yet committed, from the owner's position), and all others are
// computed from one query of committed offsets against the log's end offsets.
import type { GroupsService } from '../groups/groups-service.js';
import type { LogStore } from '../log/index.js';
import type { MetadataDb } from '../metadata/connection.js';
import { groupOffsets } from '../metadata/schema/groups.js';
import type { TopicsService } from '../topics/topics-service.js';

export interface GroupLag {
  name: string;
  state: string;
  generation: number;
  members: number;
  total_lag: number;
  /** total_lag by topic, so a watcher is shown only the lag of topics it may describe (not sent). */
  topicLags: ReadonlyMap<string, number>;
}

export async function collectGroupLags(s: {
  groups: GroupsService;
  db: MetadataDb;
  topics: Pick<TopicsService, 'lookup'>;
  log: Pick<LogStore, 'getPartition'>;
}): Promise<GroupLag[]> {
  const groups = await s.groups.list();
  const committed = new Map<string, Map<string, number>>();
  if (groups.some((g) => g.members === 0)) {
    const rows = await s.db
      .select({
        group: groupOffsets.groupName,
        topic: groupOffsets.topic,
        partition: groupOffsets.partition,
        offset: groupOffsets.offset,
      })
      .from(groupOffsets);
    for (const r of rows) {
      const topic = s.topics.lookup(r.topic);
      const log = topic && r.partition < topic.partitions ? s.log.getPartition(topic.id, r.partition) : undefined;
      if (!log) continue;
      let byTopic = committed.get(r.group);
      if (!byTopic) committed.set(r.group, (byTopic = new Map()));
      byTopic.set(r.topic, (byTopic.get(r.topic) ?? 0) + Math.max(0, log.endOffset() - r.offset));
    }
  }
  const out: GroupLag[] = [];
  for (const g of groups) {
    let topicLags: ReadonlyMap<string, number> = committed.get(g.name) ?? new Map();
    if (g.members > 0) {
      const d = await s.groups.describe(g.name);
      if (d.ok) {
        const byTopic = new Map<string, number>();
        for (const p of d.value.partitions) byTopic.set(p.topic, (byTopic.get(p.topic) ?? 0) + (p.lag ?? 0));
        topicLags = byTopic;
      }
    }
    let lag = 0;
    for (const n of topicLags.values()) lag += n;
    out.push({ name: g.name, state: g.state, generation: g.generation, members: g.members, total_lag: lag, topicLags });
  }
  return out;
}
