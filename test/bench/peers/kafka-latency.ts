// Kafka as a produce→delivery latency peer: kafkajs producer (acks=all) at the same rate and
// record sizes, one kafkajs group consumer; timed by the same code as Sluice's consumers.
import { measureDelivery, type LatencyRun } from '../lib/delivery.js';
import { nowMs } from '../lib/histogram.js';
import { timestampsIn } from '../lib/records.js';
import { uniqueName } from '../lib/context.js';
import { connectProducer, createKafkaTopic, type KafkaPeer } from './kafka.js';

export async function kafkaDelivery(peer: KafkaPeer, rate: number, durationMs: number): Promise<LatencyRun> {
  const topic = uniqueName(`lat-kafka-${rate}`);
  await createKafkaTopic(peer.kafka, topic, 1);
  const producer = await connectProducer(peer.kafka);
  try {
    const produce = async (vals: string[]) => {
      await producer.send({ topic, acks: -1, messages: vals.map((value) => ({ value })) });
      return true;
    };
    return await measureDelivery(rate, durationMs, produce, async (onDelivered) => {
      // minBytes 1: the broker answers a fetch as soon as anything is there (no batching delay).
      const consumer = peer.kafka.consumer({ groupId: uniqueName('lat'), minBytes: 1, maxWaitTimeInMs: 1000 });
      let events = 0;
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
      await consumer.run({
        eachBatch: async ({ batch }) => {
          const at = nowMs();
          const ts: number[] = [];
          for (const m of batch.messages) if (m.value) ts.push(...timestampsIn(m.value.toString('utf8')));
          events += ts.length;
          onDelivered(ts, at);
        },
      });
      await joined;
      return { events: () => events, stop: () => consumer.disconnect() };
    });
  } finally {
    await producer.disconnect();
  }
}
