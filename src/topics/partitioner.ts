// Partition choice for produced records: Kafka's default partitioner for keyed records (so a
// key lands where a Kafka producer would put it) and an even, batch-sticky spread for the rest.

/**
 * Kafka's `Utils.murmur2`: 32-bit MurmurHash2 with seed 0x9747b28c over the key bytes, as a
 * signed 32-bit integer. Written out here because no maintained npm package pins Kafka's
 * exact variant (seed, little-endian word assembly, signed result).
 */
export function murmur2(data: Uint8Array): number {
  const m = 0x5bd1e995;
  const length = data.length;
  let h = 0x9747b28c ^ length;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  const rest = length & 3;
  if (rest >= 3) h ^= data[whole + 2]! << 16;
  if (rest >= 2) h ^= data[whole + 1]! << 8;
  if (rest >= 1) h = Math.imul(h ^ data[whole]!, m);
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/** Kafka's `Utils.toPositive`: clears the sign bit (not Math.abs, which differs for MIN_VALUE). */
export const toPositive = (n: number): number => n & 0x7fffffff;

/** The partition Kafka's default partitioner picks for a key. */
export function partitionForKey(key: Uint8Array, partitionCount: number): number {
  return toPositive(murmur2(key)) % partitionCount;
}

/**
 * Chooses partitions for keyless records. Each request's keyless records all go to one
 * partition (one batch, like Kafka's sticky partitioner) and successive requests rotate
 * through the partitions, so load spreads evenly without splitting a request into many
 * small appends. State is per topic and in memory only: placement of keyless records is
 * not a guarantee.
 */
export class KeylessSpreader {
  private readonly next = new Map<string, number>();

  /** The partition for the next request's keyless records on `topicId`. */
  pick(topicId: string, partitionCount: number): number {
    const n = this.next.get(topicId) ?? Math.floor(Math.random() * partitionCount);
    this.next.set(topicId, (n + 1) % 0x40000000);
    return n % partitionCount;
  }

  /** Forget a deleted topic. */
  forget(topicId: string): void {
    this.next.delete(topicId);
  }
}
