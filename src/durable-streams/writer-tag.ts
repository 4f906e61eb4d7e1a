// The tag stored with each Durable Streams append (AppendOptions.tag): the idempotent
// producer tuple and Stream-Seq, so writer state is rebuilt from the log after a restart.

/** First byte: never the Sluice produce tag's version (1), so neither reads the other's tags. */
const MAGIC = 0x44; // 'D'

export interface WriterTag {
  producer?: { id: string; epoch: number; seq: number };
  streamSeq?: string;
}

export function encodeWriterTag(t: WriterTag): Buffer | undefined {
  if (!t.producer && t.streamSeq === undefined) return undefined;
  const json = JSON.stringify({
    ...(t.producer && { p: t.producer.id, e: t.producer.epoch, s: t.producer.seq }),
    ...(t.streamSeq !== undefined && { q: t.streamSeq }),
  });
  return Buffer.concat([Buffer.from([MAGIC]), Buffer.from(json, 'utf8')]);
}

export function decodeWriterTag(tag: Buffer): WriterTag | undefined {
  if (tag.length < 2 || tag[0] !== MAGIC) return undefined;
  try {
    const v = JSON.parse(tag.toString('utf8', 1)) as { p?: unknown; e?: unknown; s?: unknown; q?: unknown };
    const out: WriterTag = {};
    if (typeof v.p === 'string' && typeof v.e === 'number' && typeof v.s === 'number')
      out.producer = { id: v.p, epoch: v.e, seq: v.s };
    if (typeof v.q === 'string') out.streamSeq = v.q;
    return out;
  } catch {
    return undefined;
  }
}
