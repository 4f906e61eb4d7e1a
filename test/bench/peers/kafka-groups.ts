// Kafka as a consumer-group peer: the same record count on 4 partitions, consumed by 1, 2 and
// 4 kafkajs members of a fresh group (auto-commit), timed from the first join to the last record.
import { uniqueName } from '../lib/context.js';
import { sleep } from '../lib/processes.js';
import { connectProducer, createKafkaTopic, type KafkaPeer } from './kafka.js';

export interface KafkaGroupRun {
  members: number;
  consumed: number;
  elapsedMs: number;
  recPerSec: number;
}

export async function kafkaGroupConsume(
  peer: KafkaPeer,
  vals: string[],
  total: number,
  partitions: number,
  memberCounts: number[],
): Promise<KafkaGroupRun[]> {
  const topic = uniqueName('groups-kafka');
  await createKafkaTopic(peer.kafka, topic, partitions);
  const producer = await connectProducer(peer.kafka);
  try {
    const messages = vals.map((value) => ({ value }));
    for (let sent = 0; sent < total; sent += messages.length) await producer.send({ topic, acks: -1, messages });
  } finally {
    await producer.disconnect();
  }
  const out: KafkaGroupRun[] = [];
  for (const members of memberCounts) {
    const groupId = uniqueName(`kg${members}`);
    let consumed = 0;
    const t0 = performance.now();
    const consumers = Array.from({ length: members }, () =>
      peer.kafka.consumer({ groupId, minBytes: 1, maxWaitTimeInMs: 200 }),
    );
    for (const c of consumers) {
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
    out.push({ members, consumed, elapsedMs, recPerSec: consumed / (elapsedMs / 1000) });
    await Promise.all(consumers.map((c) => c.disconnect()));
  }
  return out;
}
