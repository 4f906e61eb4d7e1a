// Adapts the topics service and the log store to the groups' narrow GroupTopics port: topic
// lookups from the topics cache, reads rendered by the shared record codec.
import { ok } from '../lib/result.js';
import { recordDataBytes, type LogStore } from '../log/index.js';
import { renderRecord } from '../topics/record-codec.js';
import type { Topic } from '../topics/topics-service.js';
import type { GroupTopicHandle, GroupTopics } from './ports.js';

/** What the adapter needs from the topics service. */
export interface TopicLookup {
  lookup(name: string): Topic | undefined;
}

export function createGroupTopics(topics: TopicLookup, log: LogStore): GroupTopics {
  return {
    lookup: async (names) => {
      const out = new Map<string, GroupTopicHandle>();
      for (const name of names) {
        const topic = topics.lookup(name);
        if (topic) out.set(name, handleFor(topic, log));
      }
      return out;
    },
  };
}

function handleFor(topic: Topic, store: LogStore): GroupTopicHandle {
  const partition = (p: number) => {
    const log = store.getPartition(topic.id, p);
    if (!log) throw new Error(`partition log ${topic.name}/${p} is missing`);
    return log;
  };
  const format = topic.config.value_format;
  return {
    name: topic.name,
    partitions: topic.partitions,
    offsets: (p) => {
      const log = store.getPartition(topic.id, p);
      return log ? { start: log.startOffset(), end: log.endOffset() } : { start: 0, end: 0 };
    },
    read: async (p, offset, limits) => {
      const read = await partition(p).read(offset, limits);
      if (!read.ok)
        return { ok: false, error: { startOffset: read.error.startOffset, endOffset: read.error.endOffset } };
      let bytes = 0;
      const records = read.value.records.map((r) => {
        bytes += recordDataBytes(r);
        return renderRecord(topic.name, p, r, format);
      });
      return ok({ records, nextOffset: read.value.nextOffset, bytes });
    },
    waitForData: (p, offset, timeoutMs, signal) => partition(p).waitForData(offset, timeoutMs, signal),
    offsetForTimestamp: (p, timestamp) => partition(p).offsetForTimestamp(timestamp),
  };
}
