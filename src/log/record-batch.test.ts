// Byte-level checks of the v2 batch codec against a hand-assembled batch (layout from
// Kafka's DefaultRecordBatch/DefaultRecord) and an independent bitwise CRC32C.
import { describe, expect, it } from 'vitest';
import { checkBatch, decodeBatch, encodeBatch, readBatchHeader } from './record-batch.js';
import { VarReader, varintSize, writeVarint } from './varint.js';

/** Bit-at-a-time CRC32C (Castagnoli, reflected 0x82F63B78): slow, obviously correct. */
function referenceCrc32c(bytes: Buffer): number {
  let crc = 0xffffffff;
  for (const b of bytes) {
    crc ^= b;
    for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

describe('record batch v2', () => {
  it('encodes a one-record batch exactly as Kafka lays it out', () => {
    const hex = (s: string) => Buffer.from(s, 'hex');
    const afterCrc = Buffer.concat(
      [
        '0000', // attributes: no compression, CreateTime
        '00000000', // lastOffsetDelta 0
        '00000000000003e8', // baseTimestamp 1000
        '00000000000003e8', // maxTimestamp 1000
        'ffffffffffffffff', // producerId -1
        'ffff', // producerEpoch -1
        'ffffffff', // baseSequence -1
        '00000001', // record count 1
        '10', // record length 8 (zigzag 16)
        '000000', // record attributes, timestampDelta 0, offsetDelta 0
        '026b', // key length 1, "k"
        '0276', // value length 1, "v"
        '00', // header count 0
      ].map(hex),
    );
    const expected = Buffer.concat([
      hex('0000000000000005'), // baseOffset 5
      hex('0000003a'), // batchLength 58 = 70 - 12
      hex('ffffffff'), // partitionLeaderEpoch -1
      hex('02'), // magic
      Buffer.from(referenceCrc32c(afterCrc).toString(16).padStart(8, '0'), 'hex'),
      afterCrc,
    ]);
    expect(expected.length).toBe(70);
    const encoded = encodeBatch({
      baseOffset: 5,
      records: [{ key: Buffer.from('k'), value: Buffer.from('v'), headers: [], timestamp: 1000 }],
    });
    expect(encoded.toString('hex')).toBe(expected.toString('hex'));
    expect(checkBatch(encoded, 0, encoded.length, 5)).toMatchObject({
      ok: true,
      header: { baseOffset: 5, recordCount: 1, sizeBytes: 70 },
    });
  });

  it('writes producer fields, timestamps deltas (also negative) and nulls; decodes them back', () => {
    const buf = encodeBatch({
      baseOffset: 2 ** 40,
      producer: { id: 77n, epoch: 3, baseSequence: 9 },
      tag: Buffer.from('idem'),
      records: [
        { key: null, value: null, headers: [{ key: 'a', value: null }], timestamp: 5000 },
        { key: Buffer.alloc(0), value: Buffer.alloc(300, 7), headers: [], timestamp: 4000 },
      ],
    });
    const h = readBatchHeader(buf);
    expect(h).toMatchObject({
      baseOffset: 2 ** 40,
      producerId: 77n,
      producerEpoch: 3,
      baseSequence: 9,
      baseTimestamp: 5000,
      maxTimestamp: 5000,
      lastOffsetDelta: 1,
      recordCount: 2,
    });
    const { records, tag } = decodeBatch(buf);
    expect(tag?.toString()).toBe('idem');
    expect(
      records.map((r) => [r.offset, r.timestamp, r.key?.length ?? null, r.value?.length ?? null, r.headers]),
    ).toEqual([
      [2 ** 40, 5000, null, null, [{ key: 'a', value: null }]],
      [2 ** 40 + 1, 4000, 0, 300, []],
    ]);
  });

  it('rejects a flipped bit, a wrong magic, a short buffer and a broken offset chain', () => {
    const buf = encodeBatch({
      baseOffset: 0,
      records: [{ key: null, value: Buffer.from('hello'), headers: [], timestamp: 1 }],
    });
    const flipped = Buffer.from(buf);
    flipped[buf.length - 2]! ^= 0x10;
    expect(checkBatch(flipped, 0, flipped.length)).toEqual({ ok: false, reason: 'bad_crc' });
    const magic = Buffer.from(buf);
    magic[16] = 1;
    expect(checkBatch(magic, 0, magic.length)).toEqual({ ok: false, reason: 'bad_magic' });
    expect(checkBatch(buf, 0, buf.length - 1)).toEqual({ ok: false, reason: 'short_batch' });
    expect(checkBatch(buf, 0, 30)).toEqual({ ok: false, reason: 'short_header' });
    expect(checkBatch(buf, 0, buf.length, 1)).toEqual({ ok: false, reason: 'bad_offset' });
  });

  it('zigzag varints match Kafka ByteUtils for edge values', () => {
    const cases: Array<[number, string]> = [
      [0, '00'],
      [-1, '01'],
      [1, '02'],
      [63, '7e'],
      [-64, '7f'],
      [64, '8001'],
      [300, 'd804'],
      [2 ** 31 - 1, 'feffffff0f'],
      [-(2 ** 31), 'ffffffff0f'],
    ];
    for (const [n, hex] of cases) {
      const b = Buffer.alloc(10);
      const end = writeVarint(b, 0, n);
      expect(b.subarray(0, end).toString('hex')).toBe(hex);
      expect(varintSize(n)).toBe(end);
      expect(new VarReader(b, 0, end).varint()).toBe(n);
    }
    expect(
      new VarReader(Buffer.from('8080', 'hex'), 0, 2).varint.bind(new VarReader(Buffer.from('8080', 'hex'), 0, 2)),
    ).toThrow(RangeError);
  });
});
