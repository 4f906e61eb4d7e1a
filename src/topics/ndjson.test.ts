// Streaming body readers: NDJSON lines split across chunks, blank lines, CRLF, limits hit
// mid-stream, and errors that name the line a producer has to fix.
import { describe, expect, it } from 'vitest';
import { readLimitedBody, readNdjson } from './ndjson.js';

function stream(chunks: Array<string | Uint8Array>): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const c of chunks) controller.enqueue(typeof c === 'string' ? enc.encode(c) : c);
      controller.close();
    },
  });
}

async function collect(chunks: Array<string | Uint8Array>, maxBodyBytes = 1 << 20, maxRecords = 100) {
  const values: unknown[] = [];
  const r = await readNdjson(stream(chunks), { maxBodyBytes, maxRecords }, (v, i) => {
    expect(i).toBe(values.length);
    values.push(v);
    return undefined;
  });
  return { r, values };
}

describe('readNdjson', () => {
  it('parses lines split anywhere across chunks, including inside a UTF-8 character', async () => {
    const text = '{"value":"ü1"}\n{"value":2}\r\n\n  \n{"value":[3]}';
    const bytes = new TextEncoder().encode(text);
    for (let cut = 1; cut < bytes.length; cut += 3) {
      const { r, values } = await collect([bytes.subarray(0, cut), bytes.subarray(cut)]);
      expect(r).toEqual({ ok: true, value: 3 });
      expect(values).toEqual([{ value: 'ü1' }, { value: 2 }, { value: [3] }]);
    }
  });

  it('hands fastLine each line as a range of its chunk, UTF-8 vouched for only when it is', async () => {
    const lines = ['{"value":"ü1"}', '{"value":2}', '', '{"value":"\xff"}', '  ', '{"value":[3]}'];
    const bytes = Buffer.concat(
      lines.map((l) =>
        l.includes('\xff')
          ? Buffer.from([...Buffer.from('{"value":"'), 0xff, ...Buffer.from('"}\r\n')])
          : Buffer.from(`${l}\n`),
      ),
    );
    for (let cut = 1; cut < bytes.length; cut += 2) {
      const seen: Array<{ text: string; utf8: boolean; index: number }> = [];
      const general: number[] = [];
      const r = await readNdjson(
        stream([bytes.subarray(0, cut), bytes.subarray(cut)]),
        {
          maxBodyBytes: 1 << 20,
          maxRecords: 100,
          fastLine: (buf, view, start, end, index, utf8) => {
            expect(view.byteLength).toBe(buf.length);
            const line = buf.subarray(start, end);
            seen.push({ text: line.toString('latin1'), utf8, index });
            if (utf8) expect(line.toString('utf8')).toBe(new TextDecoder('utf-8', { fatal: true }).decode(line));
            return line.length > 0 && line[0] === 0x7b && !line.includes(0xff);
          },
        },
        (_v, i) => void general.push(i),
      );
      expect(r).toEqual({ ok: true, value: 4 });
      expect(seen.map((s) => s.text)).toEqual([
        Buffer.from('{"value":"ü1"}').toString('latin1'),
        '{"value":2}',
        '',
        Buffer.from([...Buffer.from('{"value":"'), 0xff, ...Buffer.from('"}')]).toString('latin1'),
        '  ',
        '{"value":[3]}',
      ]);
      expect(seen.map((s) => s.index)).toEqual([0, 1, 2, 2, 3, 3]);
      expect(general).toEqual([2]);
    }
  });

  it('names the line of invalid JSON', async () => {
    const { r } = await collect(['{"value":1}\n\n{"value":\n']);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe('bad_request');
      expect(r.error.line).toBe(3);
      expect(r.error.message).toMatch(/^line 3: not valid JSON/);
    }
  });

  it('passes on a refusal from onRecord with the line number', async () => {
    const r = await readNdjson(stream(['{"a":1}\n{"b":2}\n']), { maxBodyBytes: 1000, maxRecords: 10 }, (_v, i) =>
      i === 1 ? { code: 'invalid_record', message: 'record 1: nope', recordIndex: 1 } : undefined,
    );
    expect(!r.ok && r.error).toMatchObject({
      code: 'invalid_record',
      line: 2,
      recordIndex: 1,
      message: 'line 2: record 1: nope',
    });
  });

  it('stops at the body limit while streaming', async () => {
    let pulled = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += 1;
        controller.enqueue(new TextEncoder().encode('{"value":1}\n'.repeat(10)));
      },
    });
    const r = await readNdjson(endless, { maxBodyBytes: 1000, maxRecords: 1_000_000 }, () => undefined);
    expect(!r.ok && r.error).toMatchObject({
      code: 'payload_too_large',
      limit: { name: 'max_body_bytes', value: 1000 },
    });
    expect(pulled).toBeLessThan(20);
  });

  it('refuses more records than max_records_per_request', async () => {
    const { r } = await collect(['{"v":1}\n{"v":2}\n{"v":3}\n'], 1000, 2);
    expect(!r.ok && r.error).toMatchObject({
      code: 'payload_too_large',
      line: 3,
      limit: { name: 'max_records_per_request', value: 2 },
    });
  });
});

describe('readLimitedBody', () => {
  it('returns the body and feeds every chunk to onChunk', async () => {
    const seen: number[] = [];
    const r = await readLimitedBody(stream(['ab', 'cd']), { maxBodyBytes: 4, onChunk: (c) => seen.push(c.length) });
    expect(r.ok && r.value.toString()).toBe('abcd');
    expect(seen).toEqual([2, 2]);
  });

  it('refuses a body over the limit', async () => {
    const r = await readLimitedBody(stream(['ab', 'cde']), { maxBodyBytes: 4 });
    expect(!r.ok && r.error).toMatchObject({ code: 'payload_too_large', limit: { name: 'max_body_bytes', value: 4 } });
  });
});
