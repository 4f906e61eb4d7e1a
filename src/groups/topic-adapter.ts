// Adapts the topics service and the log store to the groups' narrow GroupTopics port: topic
// lookups from the topics cache, reads rendered to Record JSON bytes by the shared writer.
import { ok } from '../lib/result.js';
import type { LogStore } from '../log/index.js';
import { recordJsonRenderer } from '../topics/record-json-text.js';
import type { Topic } from '../topics/topics-service.js';
import type { GroupRecordJson, GroupTopicHandle, GroupTopics } from './ports.js';

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
        if (topic)
          out.set(
            name,
            handleFor(topic, log, () => topics.lookup(name)?.id === topic.id),
          );
      }
      return out;
    },
  };
}

const NO_RECORDS: GroupRecordJson = {
  join: (prefix, suffix) => Buffer.from(prefix + suffix, 'utf8'),
  frames: () => Buffer.alloc(0),
};

function handleFor(topic: Topic, store: LogStore, isCurrent: () => boolean): GroupTopicHandle {
  // A handle looked up before its topic was deleted finds no log: it reads as empty and never
  // wakes (the next group step drops the partition), rather than failing the fetch with a 500.
  const partition = (p: number) => store.getPartition(topic.id, p);
  const format = topic.config.value_format;
  return {
    id: topic.id,
    name: topic.name,
    partitions: topic.partitions,
    isCurrent,
    offsets: (p) => {
      const log = store.getPartition(topic.id, p);
      return log ? { start: log.startOffset(), end: log.endOffset() } : { start: 0, end: 0 };
    },
    read: async (p, offset, limits) => {
      const log = partition(p);
      const empty = () => ok({ count: 0, json: NO_RECORDS, nextOffset: offset, bytes: 0 });
      if (!log) return empty();
      let read: Awaited<ReturnType<typeof log.readRun>>;
      try {
        read = await log.readRun(offset, limits);
      } catch (e) {
        // The topic deleted under the read (its files gone: ENOENT) reads as empty, as above.
        if (partition(p) !== log) return empty();
        throw e;
      }
      if (!read.ok)
        return { ok: false, error: { startOffset: read.error.startOffset, endOffset: read.error.endOffset } };
      const { run, nextOffset } = read.value;
      // Rendered when the answer is written, straight to bytes from the log's (the records stay
      // in the batches read); the writer never throws (a value it cannot splice is served in its
      // fallback form).
      const { writer } = recordJsonRenderer(topic.name, p, format);
      const json: GroupRecordJson = {
        join: (prefix, suffix, alloc) => writer.joinRun(run, prefix, suffix, alloc),
        frames: (head, tail) => writer.frames(run.toRecords(), head, tail),
      };
      return ok({ count: run.length, json, nextOffset, bytes: run.dataBytes() });
    },
    waitForData: async (p, offset, timeoutMs, signal) =>
      (await partition(p)?.waitForData(offset, timeoutMs, signal)) ?? false,
    offsetForTimestamp: async (p, timestamp) => (await partition(p)?.offsetForTimestamp(timestamp)) ?? 0,
  };
}
