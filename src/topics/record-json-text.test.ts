// Record JSON text must read back exactly as renderRecord's objects do: same fields, order,
// escaping and header semantics; json values spliced, but always on one line.
import { isUtf8 } from 'node:buffer';
import { crc32c } from '@node-rs/crc32';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RecordRun, type RecordInput, type StoredRecord } from '../log/index.js';
import { ONE_LINE_JSON_VALUES } from '../log/append-input.js';
import { checkBatch, decodeBatch, encodeBatch } from '../log/record-batch.js';
import { RunCollector } from '../log/record-run.js';
import { renderRecord, type ValueFormat } from './record-codec.js';
import { SPLICE_ASCII, SPLICE_NO, spliceableJson } from './record-json-scan.js';
import { recordJsonRenderer } from './record-json-text.js';

const rec = (over: Partial<StoredRecord>): StoredRecord => ({
  offset: 7,
  timestamp: 1_700_000_000_123,
  key: null,
  value: null,
  headers: [],
  ...over,
});
const b = (s: string) => Buffer.from(s, 'utf8');
const viaObjects = (r: StoredRecord, f: ValueFormat) => JSON.stringify(renderRecord('t.1', 3, r, f));

describe('recordJsonRenderer', () => {
  it('is byte-identical to JSON.stringify(renderRecord) for compact values in every format', () => {
    const cases: Array<[StoredRecord, ValueFormat]> = [
      [rec({ value: b('{"a":[1,2,{"b":"x\\"y"}],"c":null}'), key: b('k"\\\n😀') }), 'json'],
      [rec({ value: b('"\u2028 ü"') }), 'json'],
      [rec({ value: b('12.5') }), 'json'],
      [rec({ value: null }), 'json'],
      [rec({ value: b('line\nbreak "quoted" \u0001') }), 'string'],
      [rec({ value: Buffer.from([0, 255, 1, 2]) }), 'binary'],
      [
        rec({
          value: b('true'),
          headers: [
            { key: 'b', value: b('1') },
            { key: '__proto__', value: b('p') },
            { key: '10', value: b('ten') },
            { key: 'b', value: b('2') },
            { key: 'gone', value: null },
          ],
        }),
        'json',
      ],
    ];
    for (const [r, f] of cases) expect(recordJsonRenderer('t.1', 3, f)(r)).toBe(viaObjects(r, f));
  });

  it("keeps the producer's spacing but parses to the same value", () => {
    const r = rec({ value: b('{ "a" : 1.50 ,\t"b": [ ] }') });
    const text = recordJsonRenderer('t', 0, 'json')(r);
    expect(text).toContain('"value":{ "a" : 1.50 ,\t"b": [ ] }');
    expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(renderRecord('t', 0, r, 'json'))));
  });

  it('renders a value of any depth holding a line break, without recursion', () => {
    const depth = 20_000;
    const r = rec({ value: b(`${'[ '.repeat(depth)}\r\n"x\\n"${' ]'.repeat(depth)}`) });
    const text = recordJsonRenderer('t', 0, 'json')(r);
    expect(text).not.toMatch(/[\r\n]/);
    expect(text).toContain(`"value":${'['.repeat(depth)}"x\\n"${']'.repeat(depth)},"headers"`);
    expect(() => JSON.parse(text) as unknown).not.toThrow();
  });

  it('serves a stored json value that is not JSON text as base64 with value_encoding, as renderRecord does', () => {
    const bad = ['{"a":', 'nul', '[1,]', '"\\u12"', '01', '{"a" 1}', '1 2', '"tab\there"', 'x'].map(b);
    bad.push(Buffer.from([0x22, 0x61, 0x22, 0xff])); // a byte ≥ 0x80 outside a string
    for (const value of bad) {
      const r = rec({ value });
      const text = recordJsonRenderer('t', 0, 'json')(r);
      expect(JSON.parse(text), value.toString()).toMatchObject({
        value: value.toString('base64'),
        value_encoding: 'base64',
      });
      expect(text, value.toString()).toBe(JSON.stringify(renderRecord('t', 0, r, 'json')));
    }
  });

  it('re-serialises a value holding a line break, so a record is always one line', () => {
    const r = rec({ value: b('{\r\n  "a": 1\n}') });
    const text = recordJsonRenderer('t', 0, 'json')(r);
    expect(text).not.toMatch(/[\r\n]/);
    expect(text).toBe(JSON.stringify(renderRecord('t', 0, r, 'json')));
  });
});

describe('recordJsonRenderer(...).writer', () => {
  const bytesArb = fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u));
  const keyArb = fc.oneof(
    fc.constant(null),
    fc.string({ maxLength: 20 }).map(b),
    fc.stringMatching(/^[ -~]{0,20}$/).map(b),
    bytesArb,
  );
  const valueArb = fc.oneof(
    fc.constant(null),
    fc.json({ maxDepth: 3 }).map(b),
    fc.json({ maxDepth: 3 }).map((t) => b(JSON.stringify(JSON.parse(t), null, 2))),
    fc.string({ maxLength: 30 }).map(b),
    bytesArb,
    // A JSON string holding raw bytes that are not UTF-8 (valid JSON text, invalid UTF-8).
    fc
      .uint8Array({ maxLength: 20 })
      .map((u) => Buffer.concat([b('"'), Buffer.from(u.filter((c) => c >= 0x20 && c !== 0x22 && c !== 0x5c)), b('"')])),
  );
  const headerArb = fc.record({ key: fc.string({ maxLength: 8 }), value: fc.option(bytesArb, { nil: null }) });
  const recordArb: fc.Arbitrary<StoredRecord> = fc.record({
    offset: fc.nat(),
    timestamp: fc.integer({ min: -1, max: 2 ** 50 }),
    key: keyArb,
    value: valueArb,
    headers: fc.oneof(
      fc.constant([]).map((): StoredRecord['headers'] => []),
      fc.array(headerArb, { maxLength: 3 }),
    ),
  });

  it('writes exactly the bytes of the string renderer, joined or framed, for any records in any format', () => {
    fc.assert(
      fc.property(
        fc.array(recordArb, { maxLength: 12 }),
        fc.constantFrom<ValueFormat>('json', 'string', 'binary'),
        fc.constantFrom('t.1', 'ünïcode-topic'),
        (records, format, topic) => {
          const render = recordJsonRenderer(topic, 3, format);
          const prefix = '{"records":[';
          const suffix = '],"next_offset":9,"end_offset":"ü"}';
          const expected = Buffer.from(prefix + records.map(render).join(',') + suffix, 'utf8');
          const got = render.writer.join(records, prefix, suffix);
          expect(got.toString('latin1')).toBe(expected.toString('latin1'));
          // SSE events: a head, the record, a per-record tail (its cursor), no separators.
          const head = 'event: record\ndata: ';
          const tail = (r: StoredRecord) => `\nid: ${r.offset + 1}.ü\n\n`;
          const events = Buffer.from(records.map((r) => head + render(r) + tail(r)).join(''), 'utf8');
          expect(render.writer.frames(records, head, tail).toString('latin1')).toBe(events.toString('latin1'));
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('recordJsonRenderer(...).writer on a RecordRun (straight from batch bytes)', () => {
  const bytesArb = fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u));
  const valueArb = fc.oneof(
    fc.constant(null),
    fc.json({ maxDepth: 3 }).map(b),
    fc.json({ maxDepth: 3 }).map((t) => b(JSON.stringify(JSON.parse(t), null, 2))),
    fc.json({ maxDepth: 2 }).map((t) => b(JSON.stringify(JSON.parse(t), null, '\t').replace(/\n/g, ' '))),
    fc.string({ unit: 'binary', maxLength: 30 }).map((t) => b(JSON.stringify(t))),
    fc.string({ maxLength: 30 }).map(b),
    bytesArb,
    fc.constantFrom('"\u2028 ü 😀"', '{"a":"\\ud800"}', '[1e5,-0.5,true,false,null]', '" x "', '{}', '[]').map(b),
    fc
      .uint8Array({ maxLength: 20 })
      .map((u) => Buffer.concat([b('"'), Buffer.from(u.filter((c) => c >= 0x20 && c !== 0x22 && c !== 0x5c)), b('"')])),
  );
  const keyArb = fc.oneof(
    fc.constant(null),
    fc.constant(b('')),
    fc.string({ unit: 'binary', maxLength: 12 }).map(b),
    fc.stringMatching(/^[ -~]{0,20}$/).map(b),
    bytesArb,
  );
  const inputArb: fc.Arbitrary<RecordInput> = fc.record({
    timestamp: fc.integer({ min: -5, max: 2 ** 50 }),
    key: keyArb,
    value: valueArb,
    headers: fc.oneof(
      { weight: 3, arbitrary: fc.constant([]).map((): RecordInput['headers'] => []) },
      fc.array(
        fc.record({ key: fc.string({ unit: 'binary', maxLength: 8 }), value: fc.option(bytesArb, { nil: null }) }),
        { maxLength: 3 },
      ),
    ),
  });
  const batchesArb = fc.array(
    fc.record({
      records: fc.array(inputArb, { minLength: 1, maxLength: 8 }),
      tag: fc.option(bytesArb, { nil: undefined }),
      appendTime: fc.option(fc.nat(), { nil: undefined }),
    }),
    { minLength: 1, maxLength: 4 },
  );

  /** The batches encoded as the log stores them, read back both ways from `from`. */
  function readBoth(batches: Array<{ records: RecordInput[]; tag?: Buffer; appendTime?: number }>, from: number) {
    const collector = new RunCollector(from, { maxRecords: 10_000, maxBytes: 1 << 30 });
    const decoded: StoredRecord[] = [];
    let base = 0;
    for (const batch of batches) {
      const bytes = encodeBatch({ baseOffset: base, ...batch });
      collector.addBatch(bytes, 0);
      decoded.push(...decodeBatch(bytes).records.filter((r) => r.offset >= from));
      base += batch.records.length;
    }
    return { run: collector.result().run, decoded };
  }

  it('writes exactly the bytes of the string renderer, joined or framed, for keys, headers, non-ASCII, binary, tombstones', () => {
    fc.assert(
      fc.property(
        batchesArb,
        fc.nat(3),
        fc.constantFrom<ValueFormat>('json', 'json', 'string', 'binary'),
        fc.constantFrom('t.1', 'ünïcode-topic'),
        fc.constantFrom('', '.kq3vXe'),
        (batches, from, format, topic, cursorTag) => {
          const { run, decoded } = readBoth(batches, from);
          expect(run.isPacked || decoded.length === 0).toBe(true);
          expect(run.toRecords()).toEqual(decoded);
          const render = recordJsonRenderer(topic, 3, format);
          const prefix = '{"records":[';
          const suffix = '],"next_offset":9,"end_offset":"ü"}';
          const expected = Buffer.from(prefix + decoded.map(render).join(',') + suffix, 'utf8');
          expect(render.writer.joinRun(run, prefix, suffix).toString('latin1')).toBe(expected.toString('latin1'));
          const head = 'event: record\ndata: ';
          const events = decoded.map((r) => `${head}${render(r)}\nid: ${r.offset + 1}${cursorTag}\n\n`).join('');
          expect(render.writer.framesRun(run, head, '\nid: ', `${cursorTag}\n\n`).toString('latin1')).toBe(
            Buffer.from(events, 'utf8').toString('latin1'),
          );
        },
      ),
      { numRuns: 600 },
    );
  });

  it('writes a run in slices whose concatenation is exactly joinRun, each slice only when asked for', () => {
    fc.assert(
      fc.property(
        batchesArb,
        fc.nat(3),
        fc.constantFrom<ValueFormat>('json', 'json', 'string', 'binary'),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 12 }),
        fc.boolean(),
        (batches, from, format, first, max, decodedRun) => {
          const read = readBoth(batches, from);
          // Packed (the file and memory stores) or decoded records (the Kafka store).
          const run = decodedRun ? RecordRun.fromRecords(read.decoded) : read.run;
          const render = recordJsonRenderer('t.1', 3, format);
          const prefix = '{"records":[';
          const suffix = '],"next_offset":9,"end_offset":"ü"}';
          const whole = render.writer.joinRun(run, prefix, suffix);
          const it = render.writer.joinRunSlices(run, prefix, suffix, { first, max });
          const parts: Buffer[] = [];
          for (let r = it.next(); !r.done; r = it.next()) parts.push(r.value);
          expect(Buffer.concat(parts).toString('latin1')).toBe(whole.toString('latin1'));
          // Slices of first, 2·first, 4·first… records, none above max.
          let slices = 0;
          for (let n = 0, step = Math.min(first, max); n < run.length; n += step, step = Math.min(max, 2 * step))
            slices++;
          expect(parts.length).toBe(Math.max(1, slices));
        },
      ),
      { numRuns: 400 },
    );
  });

  it('writes a slice only when the iterator reaches it', () => {
    const records: RecordInput[] = Array.from({ length: 10 }, (_, i) => ({
      timestamp: i,
      key: null,
      value: b(String(i)),
      headers: [],
    }));
    const { run } = readBoth([{ records }], 0);
    let asked = 0;
    // A run whose records are counted as the writer reads their offsets.
    const counted = Object.create(run, {
      offset: { value: (i: number) => (asked++, run.offset(i)) },
    }) as RecordRun;
    const it = recordJsonRenderer('t', 0, 'json').writer.joinRunSlices(counted, '[', ']', { first: 2, max: 4 });
    expect(asked).toBe(0);
    expect(it.next().value?.toString()).toMatch(/^\[\{.*"offset":1,.*\}$/);
    expect(asked).toBe(2);
    expect(it.next().value?.toString()).toMatch(/^,\{"topic":"t","partition":0,"offset":2,.*"offset":5,.*\}$/);
    expect(asked).toBe(6);
    expect(it.next().value?.toString()).toMatch(/^,\{.*"offset":6,.*"offset":9,.*\}\]$/);
    expect(it.next().done).toBe(true);
  });

  /** What the read path checks of a value it has no proof for (null: nothing to check). */
  const spliceable = (v: Buffer | null): boolean => {
    if (v === null) return true;
    const s = spliceableJson(v, 0, v.length);
    return s === SPLICE_ASCII || (s !== SPLICE_NO && isUtf8(v));
  };
  /** The batch with ONE_LINE_JSON_VALUES set and its CRC made good again (a batch whose writer claims it). */
  const withBit = (batch: Buffer): Buffer => {
    const out = Buffer.from(batch);
    out.writeInt16BE(out.readInt16BE(21) | ONE_LINE_JSON_VALUES, 21);
    out.writeUInt32BE(crc32c(out.subarray(21)), 17);
    expect(checkBatch(out, 0, out.length).ok).toBe(true);
    return out;
  };

  it('writes the same bytes from batches carrying the one-line JSON bit, unchecked, as the checking path', () => {
    let trusted = 0;
    fc.assert(
      fc.property(batchesArb, fc.nat(3), (batches, from) => {
        // The bit on every batch whose values all pass the read path's check (as produce sets it);
        // `flagged[offset]`: whether that record's batch has it.
        const trust = new RunCollector(from, { maxRecords: 10_000, maxBytes: 1 << 30 }, true);
        const check = new RunCollector(from, { maxRecords: 10_000, maxBytes: 1 << 30 });
        const flagged: boolean[] = [];
        let base = 0;
        for (const batch of batches) {
          const plain = encodeBatch({ baseOffset: base, ...batch });
          const proven = batch.records.every((r) => spliceable(r.value));
          const bytes = proven ? withBit(plain) : plain;
          trust.addBatch(bytes, 0);
          check.addBatch(bytes, 0);
          for (let k = 0; k < batch.records.length; k++) flagged.push(proven);
          base += batch.records.length;
        }
        const fast = trust.result().run;
        const slow = check.result().run;
        for (let i = 0; i < fast.length; i++) {
          expect(fast.oneLineJson(i)).toBe(flagged[fast.offset(i)]);
          expect(slow.oneLineJson(i)).toBe(false);
          if (fast.oneLineJson(i)) trusted++;
        }
        const render = recordJsonRenderer('t.1', 3, 'json');
        const decoded = slow.toRecords();
        const expected = Buffer.from(`{"records":[${decoded.map(render).join(',')}]}`, 'utf8');
        expect(render.writer.joinRun(fast, '{"records":[', ']}').toString('latin1')).toBe(expected.toString('latin1'));
        expect(render.writer.joinRun(slow, '{"records":[', ']}').toString('latin1')).toBe(expected.toString('latin1'));
        const events = Buffer.from(decoded.map((r) => `e: ${render(r)}\nid: ${r.offset + 1}\n\n`).join(''), 'utf8');
        expect(render.writer.framesRun(fast, 'e: ', '\nid: ', '\n\n').toString('latin1')).toBe(
          events.toString('latin1'),
        );
      }),
      { numRuns: 600 },
    );
    // ~1 batch in 4 has only spliceable values: the trusted path was taken, many times over.
    expect(trusted).toBeGreaterThan(100);
  });

  it('splices a value its batch claims is one-line JSON only when the store trusts the bit', () => {
    // A claim no Sluice writer makes: what a foreign producer could put in a Kafka batch.
    const lie = withBit(
      encodeBatch({
        baseOffset: 0,
        records: [
          { timestamp: 1, key: null, value: b('not json'), headers: [] },
          { timestamp: 2, key: null, value: b('{"a":\n1}'), headers: [] },
        ],
      }),
    );
    const render = recordJsonRenderer('t', 0, 'json');
    const read = (trust: boolean) => {
      const c = new RunCollector(0, { maxRecords: 10, maxBytes: 1 << 20 }, trust);
      c.addBatch(lie, 0);
      return render.writer.joinRun(c.result().run, '[', ']').toString('utf8');
    };
    const checked = `[${decodeBatch(lie).records.map(render).join(',')}]`;
    expect(checked).toContain('"value":"bm90IGpzb24=","headers":{},"value_encoding":"base64"');
    expect(checked).toContain('"value":{"a":1}');
    expect(read(false)).toBe(checked);
    // Trusted, the claim is taken as proof: bytes go out as stored (why only own writes are trusted).
    expect(read(true)).toContain('"value":not json,');
  });

  it('writes runs of records sharing timestamps and null keys (pieces copied from the record before) exactly', () => {
    // Few timestamps and keys, values some of which take the string renderer: every mix of a
    // record repeating the one before, or not, with other records in between.
    const input: fc.Arbitrary<RecordInput> = fc.record({
      timestamp: fc.constantFrom(5, 5, 6, 1_700_000_000_000),
      key: fc.constantFrom(null, null, b('k'), b('key"q')),
      value: fc.constantFrom(null, b('{"a":1}'), b('[1,2]'), b('not json'), b('{"a":\n1}')),
      headers: fc.constantFrom([], [], [{ key: 'h', value: b('v') }]),
    });
    fc.assert(
      fc.property(
        fc.array(fc.array(input, { minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 3 }),
        (batches) => {
          const c = new RunCollector(0, { maxRecords: 1000, maxBytes: 1 << 20 }, true);
          let base = 0;
          for (const records of batches) {
            const bytes = encodeBatch({ baseOffset: base, records });
            c.addBatch(records.every((r) => spliceable(r.value)) ? withBit(bytes) : bytes, 0);
            base += records.length;
          }
          const run = c.result().run;
          const decoded = run.toRecords();
          const render = recordJsonRenderer('t', 0, 'json');
          expect(render.writer.joinRun(run, '[', ']').toString()).toBe(`[${decoded.map(render).join(',')}]`);
          expect(render.writer.framesRun(run, 'e: ', '\nid: ', '\n\n').toString()).toBe(
            decoded.map((r) => `e: ${render(r)}\nid: ${r.offset + 1}\n\n`).join(''),
          );
        },
      ),
      { numRuns: 400 },
    );
  });

  it('writes every offset and timestamp as String() does, at each digit-count boundary', () => {
    const numbers = [0, 1, 2 ** 31 - 2, 2 ** 31 - 1, 2 ** 31, Number.MAX_SAFE_INTEGER - 10];
    for (let d = 1; d <= 15; d++) numbers.push(10 ** d - 2, 10 ** d - 1, 10 ** d);
    const render = recordJsonRenderer('t', 0, 'json');
    for (const n of numbers) {
      const records: RecordInput[] = [-5, -1, 0, n, n + 1].map((t) => ({
        timestamp: t,
        key: null,
        value: b('1'),
        headers: [],
      }));
      const bytes = withBit(encodeBatch({ baseOffset: n, records }));
      for (const trust of [true, false]) {
        const c = new RunCollector(n, { maxRecords: 10, maxBytes: 1 << 20 }, trust);
        c.addBatch(bytes, 0);
        const run = c.result().run;
        const decoded = run.toRecords();
        expect(render.writer.joinRun(run, '[', ']').toString()).toBe(`[${decoded.map(render).join(',')}]`);
        expect(render.writer.framesRun(run, 'e: ', '\nid: ', '\n\n').toString()).toBe(
          decoded.map((r) => `e: ${render(r)}\nid: ${String(r.offset + 1)}\n\n`).join(''),
        );
      }
    }
  });

  it('writes records whose rendering outgrows their in-place room (escaped keys, base64 fallback, headers)', () => {
    // The answer is sized for records written in place; these render to several times that.
    const control = Buffer.alloc(300, 0x01);
    const records: RecordInput[] = [
      { timestamp: 1, key: control, value: b('{"a":1}'), headers: [] },
      { timestamp: 2, key: null, value: Buffer.alloc(400, 0xff), headers: [] },
      { timestamp: 3, key: b('k'), value: b('1'), headers: [{ key: '\u0002'.repeat(100), value: control }] },
      { timestamp: 3, key: b('plain'), value: b('[true]'), headers: [] },
    ];
    for (const from of [0, 1, 2, 3]) {
      const { run, decoded } = readBoth([{ records, appendTime: 99 }], from);
      const render = recordJsonRenderer('t', 0, 'json');
      const joined = Buffer.from(`[${decoded.map(render).join(',')}]`, 'utf8');
      expect(render.writer.joinRun(run, '[', ']').equals(joined)).toBe(true);
      const events = Buffer.from(decoded.map((r) => `e: ${render(r)}\nid: ${r.offset + 1}\n\n`).join(''), 'utf8');
      expect(render.writer.framesRun(run, 'e: ', '\nid: ', '\n\n').equals(events)).toBe(true);
    }
  });

  it('is what JSON.stringify(renderRecord) gives for compact values, and the same for a run of decoded records', () => {
    const records: RecordInput[] = [
      { timestamp: 1_700_000_000_123, key: b('k1'), value: b('{"a":[1,2,{"b":"x\\"y"}],"c":null}'), headers: [] },
      { timestamp: 0, key: null, value: b('"\u2028 ü"'), headers: [] },
      { timestamp: 5, key: b('k"\\\n😀'), value: null, headers: [] },
      { timestamp: 6, key: null, value: b('true'), headers: [{ key: 'h', value: b('v') }] },
      { timestamp: 7, key: b(''), value: Buffer.from([0x22, 0xff, 0x22]), headers: [] },
    ];
    const { run, decoded } = readBoth([{ records, appendTime: 99 }], 0);
    const render = recordJsonRenderer('t', 0, 'json');
    const viaRenderRecord = `[${decoded.map((r) => JSON.stringify(renderRecord('t', 0, r, 'json'))).join(',')}]`;
    expect(render.writer.joinRun(run, '[', ']').toString('utf8')).toBe(viaRenderRecord);
    expect(render.writer.joinRun(RecordRun.fromRecords(decoded), '[', ']').toString('utf8')).toBe(viaRenderRecord);
  });
});
