// Adapts the topics service and the log store to the groups' narrow GroupTopics port: topic
// lookups from the topics cache, reads rendered to Record JSON text by the shared renderer.
import { ok } from '../lib/result.js';
import { recordDataBytes, type LogStore } from '../log/index.js';
import { recordJsonRenderer } from '../topics/record-json-text.js';
import type { Topic } from '../topics/topics-service.js';
import type { GroupRecordText, GroupTopicHandle, GroupTopics } from './ports.js';

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
    id: topic.id,
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
      const render = recordJsonRenderer(topic.name, p, format);
      let bytes = 0;
      const records: GroupRecordText[] = [];
      let nextOffset = read.value.nextOffset;
      for (const r of read.value.records) {
        let text: string;
        try {
          text = render(r);
        } catch (error) {
          // A record that cannot be served: deliver its predecessors; alone, the read fails.
          if (records.length === 0) throw error;
          nextOffset = r.offset;
          break;
        }
        bytes += recordDataBytes(r);
        records.push({ offset: r.offset, json: text });
      }
      return ok({ records, nextOffset, bytes });
    },
    waitForData: (p, offset, timeoutMs, signal) => partition(p).waitForData(offset, timeoutMs, signal),
    offsetForTimestamp: (p, timestamp) => partition(p).offsetForTimestamp(timestamp),
  };
}
