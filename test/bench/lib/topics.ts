// A topic created and filled for a consuming scenario (groups, queues): `total` bench records
// produced in batches, and how fast that load went (the publish side of a comparison).
import type { Dispatcher } from 'undici';
import { uniqueName } from './context.js';
import { closedLoop, requestJson, type LoadResult } from './load.js';
import { sluiceJsonBody, values } from './records.js';

export interface LoadedTopic {
  topic: string;
  load: LoadResult;
  /** Records produced per second (acknowledged at the topic's durability). */
  recPerSec: number;
}

export async function loadedTopic(
  pool: Dispatcher,
  o: {
    prefix: string;
    partitions: number;
    total: number;
    /** Records per produce request (default 5,000). */
    batch?: number;
    /** Produce requests in flight (default 4). */
    concurrency?: number;
    durability?: 'fsync' | 'write';
  },
): Promise<LoadedTopic> {
  const batch = o.batch ?? 5000;
  const topic = uniqueName(o.prefix);
  await requestJson(pool, {
    method: 'POST',
    path: '/v1/topics',
    body: JSON.stringify({ name: topic, partitions: o.partitions, config: { durability: o.durability ?? 'write' } }),
  });
  const body = sluiceJsonBody(values(batch));
  const load = await closedLoop(pool, Math.ceil(o.total / batch), o.concurrency ?? 4, () => ({
    method: 'POST',
    path: `/v1/topics/${topic}/records`,
    headers: { 'content-type': 'application/json' },
    body,
  }));
  if (load.errors) throw new Error(`loading ${topic} failed: ${load.firstError}`);
  return { topic, load, recPerSec: o.total / (load.elapsedMs / 1000) };
}
