// Record validation and rendering: every value format round-trips, and each bad input is
// refused with the status class and record index a producer needs to fix it.
import { describe, expect, it } from 'vitest';
import { decodeRecord, renderRecord, type DecodeContext, type RecordProblem } from './record-codec.js';

const ctx = (over: Partial<DecodeContext> = {}): DecodeContext => ({
  format: 'json',
  partitionCount: 3,
  maxRecordBytes: 1024,
  now: 1_700_000_000_000,
  ...over,
});

function problem(raw: unknown, c = ctx(), index = 4): RecordProblem {
  const r = decodeRecord(raw, index, c);
  if (r.ok) throw new Error('expected a problem');
  return r.error;
}

function roundTrip(raw: Record<string, unknown>, c = ctx()) {
  const r = decodeRecord(raw, 0, c);
  if (!r.ok) throw new Error(r.error.message);
  return renderRecord('t', 1, { ...r.value.input, offset: 7 }, c.format);
}

describe('decodeRecord / renderRecord', () => {
  it('round-trips any JSON value for value_format json', () => {
    for (const value of [{ a: [1, 'x', null] }, 'text', 42, true, [], null]) {
      expect(roundTrip({ value }).value).toEqual(value);
    }
  });

  it('round-trips strings, keys, headers and timestamps', () => {
    const rec = roundTrip(
      { key: 'k-ü', value: 'héllo', headers: { a: '1', __proto__x: '2' }, timestamp: 5 },
      ctx({ format: 'string' }),
    );
    expect(rec).toEqual({
      topic: 't',
      partition: 1,
      offset: 7,
      timestamp: 5,
      key: 'k-ü',
      value: 'héllo',
      headers: { a: '1', __proto__x: '2' },
    });
  });

  it('round-trips binary values as base64', () => {
    const b64 = Buffer.from([0, 255, 1, 2, 3]).toString('base64');
    expect(roundTrip({ value: b64 }, ctx({ format: 'binary' })).value).toBe(b64);
  });

  it('defaults the timestamp to now and keeps an explicit partition', () => {
    const r = decodeRecord({ value: 1, partition: 2 }, 0, ctx());
    expect(r.ok && r.value.input.timestamp).toBe(1_700_000_000_000);
    expect(r.ok && r.value.partition).toBe(2);
  });

  it('keeps a header named __proto__ as a plain header', () => {
    const raw = JSON.parse('{"value":1,"headers":{"__proto__":"x"}}') as Record<string, unknown>;
    const rec = roundTrip(raw);
    expect(Object.keys(rec.headers)).toEqual(['__proto__']);
    expect(JSON.stringify(rec.headers)).toBe('{"__proto__":"x"}');
  });

  it.each<[string, unknown, Partial<DecodeContext>, RecordProblem['code'], RegExp]>([
    ['non-object record', 5, {}, 'bad_request', /JSON object/],
    ['missing value', { key: 'k' }, {}, 'bad_request', /"value" is required/],
    ['unknown field', { value: 1, vlaue: 2 }, {}, 'bad_request', /unknown field "vlaue"/],
    ['numeric key', { value: 1, key: 3 }, {}, 'bad_request', /key must be a string/],
    ['array headers', { value: 1, headers: [] }, {}, 'bad_request', /headers must be an object/],
    ['non-string header', { value: 1, headers: { a: 1 } }, {}, 'bad_request', /header "a"/],
    ['reserved header', { value: 1, headers: { '__sluice.tag': 'x' } }, {}, 'invalid_record', /reserved/],
    ['fractional partition', { value: 1, partition: 1.5 }, {}, 'bad_request', /integer/],
    ['missing partition', { value: 1, partition: 3 }, {}, 'invalid_record', /partition 3 does not exist/],
    ['negative partition', { value: 1, partition: -1 }, {}, 'invalid_record', /does not exist/],
    ['string timestamp', { value: 1, timestamp: '1' }, {}, 'bad_request', /timestamp/],
    ['negative timestamp', { value: 1, timestamp: -1 }, {}, 'invalid_record', /timestamp/],
    ['number for string topic', { value: 1 }, { format: 'string' }, 'invalid_record', /must be a string/],
    ['bad base64', { value: 'abc$' }, { format: 'binary' }, 'invalid_record', /base64/],
    ['unpadded base64', { value: 'abc' }, { format: 'binary' }, 'invalid_record', /base64/],
    ['base64 with newline', { value: 'YWJj\nZGVm' }, { format: 'binary' }, 'invalid_record', /base64/],
    ['json nested too deep', { value: [1, [[{ a: [] }]]] }, { maxJsonDepth: 4 }, 'invalid_record', /more than 4 deep/],
  ])('refuses %s', (_name, raw, over, code, message) => {
    const p = problem(raw, ctx(over));
    expect(p.code).toBe(code);
    expect(p.recordIndex).toBe(4);
    expect(p.message).toMatch(/^record 4: /);
    expect(p.message).toMatch(message);
  });

  it('measures json depth on the producer’s own text when given, and accepts the limit itself', () => {
    const c = ctx({ maxJsonDepth: 2 });
    expect(decodeRecord({ value: [[1]] }, 0, c, Buffer.from('[ [1] ]')).ok).toBe(true);
    const deep = decodeRecord({ value: [[[1]]] }, 0, c, Buffer.from('[[[1]]]'));
    expect(!deep.ok && deep.error).toMatchObject({ code: 'invalid_record', message: /more than 2 deep/ });
  });

  it('measures max_record_bytes over key + value + headers and names the limit', () => {
    const c = ctx({ format: 'string', maxRecordBytes: 10 });
    expect(decodeRecord({ key: 'kk', value: 'vvvv', headers: { h: 'xxx' } }, 0, c).ok).toBe(true); // 2+4+1+3 = 10
    const p = problem({ key: 'kk', value: 'vvvv', headers: { h: 'xxxx' } }, c);
    expect(p.code).toBe('payload_too_large');
    expect(p.code === 'payload_too_large' && p.limit).toEqual({ name: 'max_record_bytes', value: 10 });
  });
});
