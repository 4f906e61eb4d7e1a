// Reads whole partitions back over HTTP (what a consumer would see) and finds a topic's
// segment directory, DATA_DIR/<topic-id>/<partition>/, to damage files under a stopped server.
import fs from 'node:fs/promises';
import path from 'node:path';
import { expectStatus, type Client } from '../../support/client.js';

export interface ReadRecord {
  offset: number;
  key: string | null;
  value: unknown;
  headers: Record<string, string>;
}

/** Every record of a partition from its start to its end offset, following next_offset. */
export async function readPartition(
  client: Client,
  topic: string,
  partition: number,
): Promise<{ records: ReadRecord[]; endOffset: number }> {
  const records: ReadRecord[] = [];
  let offset = 0;
  for (;;) {
    const page = expectStatus(
      await client.get('/v1/topics/{topic}/partitions/{partition}/records', {
        params: { topic, partition },
        query: { offset, max_records: 5000, max_bytes: 8 * 1024 * 1024 },
      }),
      200,
    );
    for (const r of page.records) records.push({ offset: r.offset, key: r.key, value: r.value, headers: r.headers });
    if (page.records.length === 0 || page.next_offset >= page.end_offset)
      return { records, endOffset: page.end_offset };
    offset = page.next_offset;
  }
}

/** Offsets that break density (expected start at 0, +1 each): how many positions are wrong. */
export function offsetGaps(records: ReadRecord[]): number {
  let gaps = 0;
  records.forEach((r, i) => {
    if (r.offset !== i) gaps++;
  });
  return gaps;
}

export async function topicId(client: Client, topic: string): Promise<string> {
  return expectStatus(await client.get('/v1/topics/{topic}', { params: { topic } }), 200).id;
}

/** Segment `.log` files of a partition, oldest first (absolute paths). */
export async function segmentFiles(dataDir: string, id: string, partition: number): Promise<string[]> {
  const dir = path.join(dataDir, id, String(partition));
  return (await fs.readdir(dir))
    .filter((n) => /^\d{20}\.log$/.test(n))
    .sort()
    .map((n) => path.join(dir, n));
}
