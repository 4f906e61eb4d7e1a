// The narrow port the Kafka log store needs from a Kafka client (produce, fetch, list offsets,
// topic admin), and its adapter over @platformatic/kafka, loaded on demand so file mode never needs it.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

/** How to reach the cluster: SLUICE_KAFKA_* settings. */
export interface KafkaConnection {
  /** host:port bootstrap list. */
  brokers: string[];
  clientId: string;
  /** TLS: true = system CAs; an object passes node:tls options (ca, cert, key, servername). */
  tls?: boolean | { ca?: string; cert?: string; key?: string; rejectUnauthorized?: boolean };
  sasl?: { mechanism: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512'; username: string; password: string };
}

export interface KafkaRecordOut {
  key: Buffer | null;
  value: Buffer | null;
  /** Kafka allows repeated header keys, so a list of pairs, not a map. */
  headers: Array<[Buffer, Buffer | null]>;
  timestamp: bigint;
}

export interface FetchedRecord {
  offset: number;
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: Array<[Buffer | null, Buffer | null]>;
}

/** One Kafka record batch as fetched (one produce call = one batch). */
export interface FetchedBatch {
  baseOffset: number;
  lastOffset: number;
  records: FetchedRecord[];
}

export interface FetchedPartition {
  /** Kafka error code (0 = none). */
  errorCode: number;
  highWatermark: number;
  logStartOffset: number;
  /** Data batches in offset order (control batches of transactions left out). */
  batches: FetchedBatch[];
  /** The offset after the last batch fetched, control batches included (undefined: none fetched). */
  nextOffset?: number;
}

export interface TopicLayout {
  /** Kafka's topic UUID (what Fetch v13+ names topics by). */
  id: string;
  /** Leader broker id per partition (-1 while leaderless). */
  leaders: number[];
}

/** Everything the store asks of a Kafka client. Implemented over @platformatic/kafka. */
export interface KafkaDriver {
  /** Topic layouts; `force` bypasses the client's metadata cache. Missing topics are absent. */
  metadata(topics: string[], force: boolean): Promise<Map<string, TopicLayout>>;
  listTopics(): Promise<string[]>;
  createTopic(name: string, partitions: number, configs: Record<string, string>, replicas: number): Promise<void>;
  growTopic(name: string, partitions: number): Promise<void>;
  deleteTopic(name: string): Promise<void>;
  alterTopicConfig(name: string, configs: Record<string, string>): Promise<void>;
  /** The topic's effective values of the named configs (defaults included); names it lacks are absent. */
  describeTopicConfig(name: string, keys: string[]): Promise<Record<string, string>>;
  /** Appends one batch to one partition; resolves to its base offset once `acks` replicas have it. */
  produce(topic: string, partition: number, records: KafkaRecordOut[], acks: -1 | 1): Promise<number>;
  /** One Fetch against `leader`, waiting up to maxWaitMs for at least one byte. */
  fetch(
    leader: number,
    topicId: string,
    partition: number,
    offset: number,
    maxBytes: number,
    maxWaitMs: number,
  ): Promise<FetchedPartition>;
  /**
   * One long-poll Fetch for many partitions led by `leader`: answers when any has data past its
   * offset or after maxWaitMs, with each partition's offsets and the first batches past its offset
   * (up to `partitionMaxBytes`; Kafka sends a first batch whole even when larger). Uses its own
   * connections, so reads never queue behind it.
   */
  tailFetch(
    leader: number,
    partitions: Array<{ topicId: string; partition: number; offset: number }>,
    maxWaitMs: number,
    partitionMaxBytes: number,
  ): Promise<Array<{ topicId: string; partition: number } & FetchedPartition>>;
  /**
   * Bytes on disk of each named partition (DescribeLogDirs on every broker; the largest replica's,
   * as the leader's is never behind a follower's). A partition no broker reported is absent.
   */
  partitionSizes(topics: Array<{ name: string; partitions: number[] }>): Promise<Map<string, Map<number, number>>>;
  /** ListOffsets: -2 earliest, -1 latest, else the first offset with a timestamp ≥ ts (-1 when none). */
  listOffset(topic: string, partition: number, timestamp: number): Promise<number>;
  /** ListOffsets for many partitions in one request per leader: -2 earliest, -1 latest. Partitions without an answer are absent. */
  listOffsets(
    topics: Array<{ name: string; partitions: number[] }>,
    timestamp: -2 | -1,
  ): Promise<Map<string, Map<number, number>>>;
  /**
   * Set a Kafka consumer group's committed offsets (AlterConsumerGroupOffsets), so Kafka tooling
   * sees them. Kafka refuses while the group has members of its own.
   */
  commitGroupOffsets(
    groupId: string,
    topics: Array<{ name: string; partitions: Array<{ partition: number; offset: number }> }>,
  ): Promise<void>;
  close(): Promise<void>;
}

/** Kafka error codes the store reacts to. */
export const KafkaErrors = {
  OFFSET_OUT_OF_RANGE: 1,
  UNKNOWN_TOPIC_OR_PARTITION: 3,
  LEADER_NOT_AVAILABLE: 5,
  NOT_LEADER_OR_FOLLOWER: 6,
  FENCED_LEADER_EPOCH: 74,
  UNKNOWN_LEADER_EPOCH: 75,
  UNKNOWN_TOPIC_ID: 100,
  INCONSISTENT_TOPIC_ID: 103,
} as const;

// ---- the adapter ------------------------------------------------------------------------

/* The slice of @platformatic/kafka's API used here, declared locally: the package is an optional
   dependency (it needs Node ≥ 22.22) and must not be required to type-check or run file mode. */
interface PlatformaticClientOptions {
  clientId: string;
  bootstrapBrokers: string[];
  tls?: object;
  sasl?: object;
  retries?: number;
  timeout?: number;
}
interface PlatformaticBatch {
  firstOffset: bigint;
  firstTimestamp: bigint;
  maxTimestamp: bigint;
  attributes: number;
  lastOffsetDelta: number;
  records: Array<{
    timestampDelta: bigint;
    offsetDelta: number;
    key: Buffer | null;
    value: Buffer | null;
    headers: Array<[Buffer | null, Buffer | null]>;
  }>;
}
interface PlatformaticMetadata {
  topics: Map<string, { id: string; partitions: Array<{ leader: number }> }>;
}
interface PlatformaticBase {
  metadata(o: { topics: string[]; forceUpdate?: boolean; retries?: number }): Promise<PlatformaticMetadata>;
  close(force?: boolean): Promise<void>;
}
interface PlatformaticAdmin extends PlatformaticBase {
  listTopics(o?: object): Promise<string[]>;
  createTopics(o: object): Promise<unknown>;
  createPartitions(o: object): Promise<void>;
  deleteTopics(o: { topics: string[] }): Promise<void>;
  incrementalAlterConfigs(o: object): Promise<void>;
  describeLogDirs(o: { topics: Array<{ name: string; partitions: number[] }> }): Promise<
    Array<{
      broker: number;
      results: Array<{
        topics: Array<{ name: string; partitions: Array<{ partitionIndex: number; partitionSize: bigint }> }>;
      }>;
    }>
  >;
  describeConfigs(o: {
    resources: Array<{ resourceType: number; resourceName: string; configurationKeys?: string[] }>;
  }): Promise<Array<{ resourceName: string; configs: Array<{ name: string; value: string | null }> }>>;
  alterConsumerGroupOffsets(o: {
    groupId: string;
    topics: Array<{ name: string; partitionOffsets: Array<{ partition: number; offset: bigint }> }>;
  }): Promise<void>;
}
interface PlatformaticProducer extends PlatformaticBase {
  /** The client's cached view of each topic it produced to (undefined until it first looked). */
  readonly currentMetadata?: { topics: Map<string, { partitionsCount: number; lastUpdate: number } | undefined> };
  send(o: {
    messages: object[];
    acks?: number;
  }): Promise<{ offsets?: Array<{ topic: string; partition: number; offset: bigint }> }>;
}
/** @internal exported for tests (fetchedPartition's input). */
export interface PlatformaticFetchPartition {
  partitionIndex: number;
  errorCode: number;
  highWatermark: bigint;
  logStartOffset: bigint;
  records?: PlatformaticBatch[] | null;
}
interface PlatformaticConsumer extends PlatformaticBase {
  fetch(o: object): Promise<{ responses: Array<{ topicId: string; partitions: PlatformaticFetchPartition[] }> }>;
  listOffsets(o: {
    topics: string[];
    partitions?: Record<string, number[]>;
    timestamp?: bigint;
  }): Promise<Map<string, bigint[]>>;
}
interface PlatformaticModule {
  createRecord(message: object, offsetDelta: number, firstTimestamp: bigint): { buffer: Buffer };
  Admin: new (o: PlatformaticClientOptions) => PlatformaticAdmin;
  Producer: new (
    o: PlatformaticClientOptions & { acks?: number; idempotent?: boolean; metadataMaxAge?: number },
  ) => PlatformaticProducer;
  Consumer: new (o: PlatformaticClientOptions & { groupId: string }) => PlatformaticConsumer;
}

/** Node versions @platformatic/kafka 2.x supports (its `engines`). */
export function kafkaClientSupported(version = process.versions.node): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major >= 24 || (major === 22 && minor >= 22) || major === 23;
}

/** Idempotent producer clients appends are spread over (by partition). */
const PRODUCERS = 4;
/** How long the producer client trusts its view of a topic (its metadataMaxAge, its default too). */
const PRODUCER_METADATA_MAX_AGE_MS = 5_000;
/** The view is re-read this long before the client would re-read it inside a send. */
const PRODUCER_METADATA_MARGIN_MS = 1_000;

const IS_CONTROL_BATCH = 0x20;
/** Record batch attributes bit 3: the timestamps are the broker's (LogAppendTime). */
const LOG_APPEND_TIME = 0x08;

/** Loads @platformatic/kafka and wraps it; throws a message naming the fix when it can't. */
export async function createPlatformaticDriver(conn: KafkaConnection): Promise<KafkaDriver> {
  if (!kafkaClientSupported()) {
    throw new Error(
      `SLUICE_LOG_STORE=kafka needs Node.js 22.22+ or 24 LTS (its Kafka client, @platformatic/kafka, requires it); this is Node.js ${process.versions.node}`,
    );
  }
  const moduleName = '@platformatic/kafka';
  let mod: PlatformaticModule;
  try {
    mod = (await import(moduleName)) as PlatformaticModule;
  } catch (e) {
    throw new Error(
      `SLUICE_LOG_STORE=kafka: could not load ${moduleName} (an optional dependency, installed by npm ci on Node.js 22.22+/24): ${String(e)}`,
    );
  }
  await ensureVarInt64(mod);
  const base: PlatformaticClientOptions = {
    clientId: conn.clientId,
    bootstrapBrokers: conn.brokers,
    ...(conn.tls ? { tls: conn.tls === true ? {} : conn.tls } : {}),
    ...(conn.sasl ? { sasl: conn.sasl } : {}),
    retries: 5,
  };
  const admin = new mod.Admin(base);
  // Idempotent: a retry after a lost answer never appends a batch twice (acks=all implied). Such a
  // client has one request in flight per broker connection, for all the partitions that broker
  // leads: appends are spread over a few, each partition always on the same one (its order).
  const producers = Array.from(
    { length: PRODUCERS },
    () => new mod.Producer({ ...base, idempotent: true, acks: -1, metadataMaxAge: PRODUCER_METADATA_MAX_AGE_MS }),
  );
  /** Per topic, the producer each partition uses, given out in turn as partitions are first used. */
  const producerOf = new Map<string, Map<number, PlatformaticProducer>>();
  let nextProducer = 0;
  const producerFor = (topic: string, partition: number): PlatformaticProducer => {
    let byPartition = producerOf.get(topic);
    if (!byPartition) producerOf.set(topic, (byPartition = new Map()));
    let producer = byPartition.get(partition);
    if (!producer) byPartition.set(partition, (producer = producers[nextProducer++ % PRODUCERS]!));
    return producer;
  };
  const consumer = new mod.Consumer({ ...base, groupId: `${conn.clientId}-reader` });
  // Long polls hold a broker connection for up to their wait: give them their own.
  const tailConsumer = new mod.Consumer({ ...base, groupId: `${conn.clientId}-tail` });

  const metadata = async (topics: string[], force: boolean): Promise<Map<string, TopicLayout>> => {
    const out = new Map<string, TopicLayout>();
    if (topics.length === 0) return out;
    let md: PlatformaticMetadata;
    try {
      // No client-side retries: a missing topic is an answer here, not a fault to wait out.
      md = await consumer.metadata({ topics, forceUpdate: force, retries: 0 });
    } catch (e) {
      // The client rejects a request naming a missing topic: ask one by one.
      if (topics.length === 1) {
        if (isUnknownTopic(e)) return out;
        throw e;
      }
      for (const t of topics) for (const [k, v] of await metadata([t], force)) out.set(k, v);
      return out;
    }
    for (const [name, t] of md.topics) {
      if (topics.includes(name)) out.set(name, { id: t.id, leaders: t.partitions.map((p) => p.leader) });
    }
    return out;
  };

  return {
    metadata,
    listTopics: () => admin.listTopics(),
    async createTopic(name, partitions, configs, replicas) {
      await admin.createTopics({
        topics: [name],
        partitions,
        replicas,
        configs: Object.entries(configs).map(([n, value]) => ({ name: n, value })),
      });
    },
    growTopic: (name, count) => admin.createPartitions({ topics: [{ name, count }] }),
    commitGroupOffsets: (groupId, topics) =>
      admin.alterConsumerGroupOffsets({
        groupId,
        topics: topics.map((t) => ({
          name: t.name,
          partitionOffsets: t.partitions.map((p) => ({ partition: p.partition, offset: BigInt(p.offset) })),
        })),
      }),
    deleteTopic: (name) => {
      producerOf.delete(name);
      return admin.deleteTopics({ topics: [name] });
    },
    alterTopicConfig: (name, configs) =>
      admin.incrementalAlterConfigs({
        resources: [
          {
            resourceType: 2, // TOPIC
            resourceName: name,
            configs: Object.entries(configs).map(([n, value]) => ({ name: n, configOperation: 0, value })),
          },
        ],
      }),
    async describeTopicConfig(name, keys) {
      const [described] = await admin.describeConfigs({
        resources: [{ resourceType: 2, resourceName: name, configurationKeys: keys }], // 2 = TOPIC
      });
      const out: Record<string, string> = {};
      for (const c of described?.configs ?? []) if (c.value !== null) out[c.name] = c.value;
      return out;
    },
    async produce(topic, partition, records, acks) {
      // The client sends a record for a partition its view of the topic lacks to `partition % count`,
      // answering with that partition's offset, and re-reads the view inside a send once it is
      // metadataMaxAge old. So a topic grown a moment ago would get records in an old partition, and
      // an exposed topic deleted and created again with fewer partitions one meant for a partition
      // it lost. The view is checked here before each send, re-read first when it is about to
      // expire or lacks the partition, so the send (called right after) goes by the view checked.
      const producer = producerFor(topic, partition);
      let view = producer.currentMetadata?.topics.get(topic);
      if (
        !view ||
        partition >= view.partitionsCount ||
        Date.now() - view.lastUpdate > PRODUCER_METADATA_MAX_AGE_MS - PRODUCER_METADATA_MARGIN_MS
      ) {
        await producer.metadata({ topics: [topic], forceUpdate: true });
        view = producer.currentMetadata?.topics.get(topic);
      }
      const count = view?.partitionsCount ?? 0;
      if (partition >= count) {
        throw new Error(`produce to ${topic}/${partition}: Kafka's metadata shows ${count} partitions; nothing sent`);
      }
      const result = await producer.send({
        acks,
        messages: records.map((r) => ({
          topic,
          partition,
          key: r.key ?? undefined,
          value: r.value ?? undefined,
          timestamp: r.timestamp,
          // Distinct Buffer objects are distinct Map keys, so repeated header names survive.
          headers: new Map(r.headers),
        })),
      });
      const hit = result.offsets?.find((o) => o.topic === topic && o.partition === partition);
      if (!hit) {
        throw new Error(`produce to ${topic}/${partition}: no offset in the answer`);
      }
      return Number(hit.offset);
    },
    async fetch(leader, topicId, partition, offset, maxBytes, maxWaitMs) {
      const res = await consumer.fetch({
        node: leader,
        maxWaitTime: maxWaitMs,
        minBytes: 1,
        maxBytes,
        topics: [
          {
            topicId,
            partitions: [
              {
                partition,
                currentLeaderEpoch: -1,
                fetchOffset: BigInt(offset),
                lastFetchedEpoch: -1,
                partitionMaxBytes: maxBytes,
              },
            ],
          },
        ],
      });
      // Only the partition asked for: a fetch session may hold others, and an incremental answer
      // leaves out a partition with nothing new (at the end of the log).
      const p = res.responses
        .find((t) => t.topicId === topicId)
        ?.partitions.find((x) => x.partitionIndex === partition);
      if (!p) throw new Error(`fetch ${topicId}/${partition}: empty answer`);
      return fetchedPartition(p);
    },
    async tailFetch(leader, partitions, maxWaitMs, partitionMaxBytes) {
      const byTopic = new Map<string, object[]>();
      for (const p of partitions) {
        let list = byTopic.get(p.topicId);
        if (!list) byTopic.set(p.topicId, (list = []));
        list.push({
          partition: p.partition,
          currentLeaderEpoch: -1,
          fetchOffset: BigInt(p.offset),
          lastFetchedEpoch: -1,
          partitionMaxBytes,
        });
      }
      const res = await tailConsumer.fetch({
        node: leader,
        maxWaitTime: maxWaitMs,
        minBytes: 1,
        maxBytes: 1 << 20,
        topics: [...byTopic].map(([topicId, list]) => ({ topicId, partitions: list })),
      });
      return res.responses.flatMap((t) =>
        t.partitions.map((p) => ({ topicId: t.topicId, partition: p.partitionIndex, ...fetchedPartition(p) })),
      );
    },
    async partitionSizes(topics) {
      const out = new Map<string, Map<number, number>>();
      if (topics.length === 0) return out;
      for (const broker of await admin.describeLogDirs({ topics })) {
        for (const dir of broker.results) {
          for (const t of dir.topics) {
            let sizes = out.get(t.name);
            if (!sizes) out.set(t.name, (sizes = new Map()));
            for (const p of t.partitions) {
              const size = Number(p.partitionSize);
              if (size > (sizes.get(p.partitionIndex) ?? -1)) sizes.set(p.partitionIndex, size);
            }
          }
        }
      }
      return out;
    },
    async listOffset(topic, partition, timestamp) {
      const offsets = await consumer.listOffsets({
        topics: [topic],
        partitions: { [topic]: [partition] },
        timestamp: BigInt(timestamp),
      });
      const o = offsets.get(topic)?.[partition];
      if (o === undefined) throw new Error(`list offsets ${topic}/${partition}: no answer`);
      return Number(o);
    },
    async listOffsets(topics, timestamp) {
      const out = new Map<string, Map<number, number>>();
      if (topics.length === 0) return out;
      const offsets = await consumer.listOffsets({
        topics: topics.map((t) => t.name),
        partitions: Object.fromEntries(topics.map((t) => [t.name, t.partitions])),
        timestamp: BigInt(timestamp),
      });
      for (const t of topics) {
        const answer = offsets.get(t.name);
        const byPartition = new Map<number, number>();
        for (const p of t.partitions) {
          const o = answer?.[p];
          if (o !== undefined) byPartition.set(p, Number(o));
        }
        out.set(t.name, byPartition);
      }
      return out;
    },
    async close() {
      await Promise.allSettled([
        ...producers.map((p) => p.close()),
        consumer.close(true),
        tailConsumer.close(true),
        admin.close(),
      ]);
    },
  };
}

/**
 * A partition of a Fetch answer as batches of records, control batches (transaction markers) left
 * out. Of the attributes only those two and LogAppendTime are read: a batch's other bits (Sluice's
 * ONE_LINE_JSON_VALUES among them, which any producer could set) never reach the store.
 * @internal exported for tests.
 */
export function fetchedPartition(p: PlatformaticFetchPartition): FetchedPartition {
  const batches: FetchedBatch[] = [];
  let nextOffset: number | undefined;
  for (const batch of p.records ?? []) {
    nextOffset = Math.max(nextOffset ?? 0, Number(batch.firstOffset) + batch.lastOffsetDelta + 1);
    if (batch.attributes & IS_CONTROL_BATCH) continue;
    const base = Number(batch.firstOffset);
    // Under LogAppendTime the broker sets only the batch's max timestamp (and this bit): every
    // record's time is the batch's, as Kafka's own consumers read it.
    const appendTime = batch.attributes & LOG_APPEND_TIME ? Number(batch.maxTimestamp) : undefined;
    const records: FetchedRecord[] = [];
    batches.push({ baseOffset: base, lastOffset: base + batch.lastOffsetDelta, records });
    for (const r of batch.records) {
      records.push({
        offset: base + r.offsetDelta,
        timestamp: appendTime ?? Number(batch.firstTimestamp + r.timestampDelta),
        key: r.key,
        value: r.value,
        headers: r.headers,
      });
    }
  }
  return {
    errorCode: p.errorCode,
    highWatermark: Number(p.highWatermark),
    logStartOffset: Number(p.logStartOffset),
    batches,
    ...(nextOffset !== undefined ? { nextOffset } : {}),
  };
}

/** Kafka's zigzag varlong (what the record timestamp and offset deltas are). */
function zigzag64(value: bigint): Buffer {
  let z = BigInt.asUintN(64, (value << 1n) ^ (value >> 63n));
  const bytes: number[] = [];
  while (z >= 0x80n) {
    bytes.push(Number((z & 0x7fn) | 0x80n));
    z >>= 7n;
  }
  bytes.push(Number(z));
  return Buffer.from(bytes);
}

/**
 * @platformatic/dynamic-buffer 0.3.1 zigzag-encodes 64-bit varints with a 31-bit shift, so a
 * record whose timestamp differs from its batch's first by ≥ 2^31 ms (~25 days) is written with a
 * wrong timestamp. Detect it with the client's own encoder; patch the encoder when it is wrong.
 */
async function ensureVarInt64(mod: PlatformaticModule): Promise<void> {
  const delta = -(2n ** 40n);
  const encoded = () =>
    mod.createRecord({ value: Buffer.alloc(0), timestamp: 0n, headers: new Map() }, 0, -delta).buffer;
  // [length varint (1 byte)] [attributes] [timestamp delta varlong] ...
  const correct = () =>
    encoded()
      .subarray(2, 2 + zigzag64(delta).length)
      .equals(zigzag64(delta));
  if (correct()) return;
  // The copy the client itself loads: resolved from the client's own location.
  const name = '@platformatic/dynamic-buffer';
  const fromClient = createRequire(createRequire(import.meta.url).resolve('@platformatic/kafka')).resolve(name);
  const dyn = (await import(pathToFileURL(fromClient).href)) as {
    DynamicBuffer: {
      prototype: { writeVarInt64: unknown; writeUnsignedVarInt64(v: bigint, append: boolean): unknown };
    };
  };
  dyn.DynamicBuffer.prototype.writeVarInt64 = function (
    this: { writeUnsignedVarInt64(v: bigint, append: boolean): unknown },
    value: bigint,
    append = true,
  ) {
    return this.writeUnsignedVarInt64(BigInt.asUintN(64, (value << 1n) ^ (value >> 63n)), append);
  };
  if (!correct()) throw new Error(`${name} encodes 64-bit varints wrongly and could not be patched`);
}

/** Kafka refused a produced batch for its size (the topic's max.message.bytes, or its segment size). */
export function isBatchTooLarge(e: unknown): boolean {
  const seen = new Set<unknown>();
  const walk = (x: unknown): boolean => {
    if (typeof x !== 'object' || x === null || seen.has(x)) return false;
    seen.add(x);
    const { apiId, errors, cause } = x as { apiId?: unknown; errors?: unknown; cause?: unknown };
    if (apiId === 'MESSAGE_TOO_LARGE' || apiId === 'RECORD_LIST_TOO_LARGE') return true;
    return (Array.isArray(errors) && errors.some(walk)) || walk(cause);
  };
  return walk(e);
}

function isUnknownTopic(e: unknown): boolean {
  const text = JSON.stringify(e, Object.getOwnPropertyNames(e ?? {})) + String(e);
  return /UNKNOWN_TOPIC_OR_PARTITION|does not host this topic|Unknown topic/i.test(text);
}
