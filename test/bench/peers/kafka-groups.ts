// Kafka as a consumer-group peer: the same record count on 4 partitions, consumed by N kafkajs
// members of a fresh group (auto-commit), timed from the first join to the last record.
import { uniqueName } from '../lib/context.js';
import { sleep } from '../lib/processes.js';
import { connectProducer, createKafkaTopic, type KafkaPeer } from './kafka.js';

export interface KafkaGroupRun {
  members: number;
  consumed: number;
  elapsedMs: number;
  recPerSec: number;
  /** From the first connect until the first member joined (kafkajs GROUP_JOIN). */
  joinMs: number | null;
}

/** A topic of `partitions` holding `total` records (acks=all), for `kafkaGroupConsume` runs. */
export async function loadKafkaGroupTopic(
  peer: KafkaPeer,
  vals: string[],
  total: number,
  partitions: number,
): Promise<string> {
  const topic = uniqueName('groups-kafka');
  await createKafkaTopic(peer.kafka, topic, partitions);
  const producer = await connectProducer(peer.kafka);
  try {
    const messages = vals.map((value) => ({ value }));
    for (let sent = 0; sent < total; sent += messages.length) await producer.send({ topic, acks: -1, messages });
  } finally {
    await producer.disconnect();
  }
  return topic;
}

/** `members` consumers of a fresh group read the whole topic from the beginning (bounded: 120 s). */
export async function kafkaGroupConsume(
  peer: KafkaPeer,
  topic: string,
  total: number,
  members: number,
): Promise<KafkaGroupRun> {
  const groupId = uniqueName(`kg${members}`);
  let consumed = 0;
  let joinMs: number | null = null;
  const t0 = performance.now();
  const consumers = Array.from({ length: members }, () =>
    peer.kafka.consumer({ groupId, minBytes: 1, maxWaitTimeInMs: 200 }),
  );
  try {
    for (const c of consumers) {
      c.on(c.events.GROUP_JOIN, () => {
        joinMs ??= performance.now() - t0;
      });
      await c.connect();
      await c.subscribe({ topic, fromBeginning: true });
      await c.run({
        eachBatch: async ({ batch }) => {
          consumed += batch.messages.length;
        },
      });
    }
    const deadline = t0 + 120_000;
    while (consumed < total && performance.now() < deadline) await sleep(10);
    const elapsedMs = performance.now() - t0;
    return { members, consumed, elapsedMs, recPerSec: consumed / (elapsedMs / 1000), joinMs };
  } finally {
    await Promise.all(consumers.map((c) => c.disconnect()));
  }
}
