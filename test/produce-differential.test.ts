// Produce then read back, against JSON.parse: whatever spacing, number spelling, escapes and line
// ends a producer uses, each record reads back as JSON.parse of the text it sent, at the offset
// the answer gave it; text JSON.parse refuses is refused whole (400) and appends nothing.
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startIsolatedServer, type TestServer } from './support/server.js';
import { createTopic } from './sse-support.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** JSON text of `v` with choices drawn from `pick`: spacing, number spellings, \u escapes. */
function spell(v: Json, pick: () => number, spaces: string[]): string {
  const ws = () => {
    let s = '';
    while (pick() % 3 === 0) s += spaces[pick() % spaces.length];
    return s;
  };
  const str = (s: string) =>
    JSON.stringify(s).replace(/[a-z]/g, (c) =>
      pick() % 4 === 0
        ? `\\u${c
            .charCodeAt(0)
            .toString(16)
            .padStart(4, pick() % 2 ? '0' : '0')}`
        : c,
    );
  const num = (n: number): string => {
    const base = JSON.stringify(n);
    if (!Number.isInteger(n) || Math.abs(n) > 1e15) return base;
    switch (pick() % 5) {
      case 0:
        return `${base}.0`;
      case 1:
        return `${base}e0`;
      case 2:
        return `${base}E+00`;
      case 3:
        return n === 0 ? '-0' : base;
      default:
        return base;
    }
  };
  const go = (x: Json): string => {
    if (x === null || typeof x === 'boolean') return String(x);
    if (typeof x === 'number') return num(x);
    if (typeof x === 'string') return str(x);
    if (Array.isArray(x)) return `[${ws()}${x.map((e) => `${go(e)}${ws()}`).join(`,${ws()}`)}]`;
    return `{${ws()}${Object.entries(x)
      .map(([k, e]) => `${str(k)}${ws()}:${ws()}${go(e)}${ws()}`)
      .join(`,${ws()}`)}}`;
  };
  return go(v);
}

const json = fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>;
const body = fc.record({
  values: fc.array(json, { minLength: 1, maxLength: 6 }),
  seed: fc.array(fc.nat(), { minLength: 64, maxLength: 64 }),
  lineEnd: fc.constantFrom('\n', '\r\n'),
  lastNewline: fc.boolean(),
  blankLines: fc.boolean(),
});

function picker(seed: number[]): () => number {
  let i = 0;
  return () => seed[i++ % seed.length]! + i;
}

describe('produce → read back, against JSON.parse', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startIsolatedServer({});
  });
  afterAll(async () => {
    await server?.stop();
  });

  async function roundTrip(contentType: string, text: string, sentValues: string[]) {
    const topic = `t-${randomUUID()}`;
    await createTopic(server.url, topic, 1);
    const res = await fetch(`${server.url}/v1/topics/${topic}/records`, {
      method: 'POST',
      headers: { 'content-type': contentType },
      body: text,
    });
    const answer = (await res.json()) as { offsets?: Array<{ partition: number; offset: number }> };
    expect(res.status, JSON.stringify(answer)).toBe(200);
    expect(answer.offsets).toEqual(sentValues.map((_, i) => ({ partition: 0, offset: i })));
    const read = await fetch(`${server.url}/v1/topics/${topic}/partitions/0/records?offset=0&max_records=100`);
    const got = (await read.json()) as { records: Array<{ offset: number; value: unknown }> };
    expect(got.records.map((r) => r.offset)).toEqual(sentValues.map((_, i) => i));
    got.records.forEach((r, i) => expect(r.value).toEqual(JSON.parse(sentValues[i]!)));
  }

  it('a JSON body in any spelling', async () => {
    await fc.assert(
      fc.asyncProperty(body, async ({ values, seed }) => {
        const pick = picker(seed);
        const spaces = [' ', '\t', '\n', '\r\n'];
        const texts = values.map((v) => spell(v, pick, spaces));
        const text = `{"records":[${texts.map((t) => `{"value":${t}}`).join(',\n')}]}`;
        await roundTrip('application/json', text, texts);
      }),
      { numRuns: 25 },
    );
  }, 120_000);

  it('an NDJSON body in any spelling and line ends', async () => {
    await fc.assert(
      fc.asyncProperty(body, async ({ values, seed, lineEnd, lastNewline, blankLines }) => {
        const pick = picker(seed);
        const texts = values.map((v) => spell(v, pick, [' ', '\t', '\r']));
        const lines = texts.map((t) => `{"value":${t}}`);
        let text = lines.join(blankLines ? `${lineEnd} \t${lineEnd}${lineEnd}` : lineEnd);
        if (lastNewline) text += lineEnd;
        await roundTrip('application/x-ndjson', text, texts);
      }),
      { numRuns: 25 },
    );
  }, 120_000);
  /** Produces `text`; when JSON.parse refuses it (or a line of it), the answer is 400 and nothing is appended. */
  async function refusedIfNotJson(contentType: string, text: string, parses: boolean) {
    const topic = `t-${randomUUID()}`;
    await createTopic(server.url, topic, 1);
    const res = await fetch(`${server.url}/v1/topics/${topic}/records`, {
      method: 'POST',
      headers: { 'content-type': contentType },
      body: text,
    });
    if (parses) return;
    expect(res.status, await res.text()).toBe(400);
    const topicInfo = (await (await fetch(`${server.url}/v1/topics/${topic}`)).json()) as {
      partitions: Array<{ end_offset: number }>;
    };
    expect(topicInfo.partitions[0]!.end_offset).toBe(0);
  }

  const mutation = fc.record({
    at: fc.nat(),
    byte: fc.constantFrom(...'{}[]",:\\ -+.eE0\t\n\r\u0000\u00a0\ufeffx'.split('')),
    drop: fc.boolean(),
  });

  it('a JSON body with one character changed is taken only if JSON.parse takes it', async () => {
    await fc.assert(
      fc.asyncProperty(body, mutation, async ({ values, seed }, { at, byte, drop }) => {
        const pick = picker(seed);
        const text = `{"records":[${values.map((v) => `{"value":${spell(v, pick, [' ', '\n'])}}`).join(',')}]}`;
        const i = at % text.length;
        const changed = text.slice(0, i) + (drop ? '' : byte) + text.slice(i + 1);
        let parses = true;
        try {
          JSON.parse(changed);
        } catch {
          parses = false;
        }
        await refusedIfNotJson('application/json', changed, parses);
      }),
      { numRuns: 25 },
    );
  }, 120_000);

  it('an NDJSON body with one character changed is taken only if JSON.parse takes every line', async () => {
    await fc.assert(
      fc.asyncProperty(body, mutation, async ({ values, seed, lineEnd }, { at, byte, drop }) => {
        const pick = picker(seed);
        const text = values.map((v) => `{"value":${spell(v, pick, [' '])}}`).join(lineEnd);
        const i = at % text.length;
        const changed = text.slice(0, i) + (drop ? '' : byte) + text.slice(i + 1);
        const parses = changed.split('\n').every((line) => {
          const l = line.endsWith('\r') ? line.slice(0, -1) : line;
          if (/^[ \t\r\n]*$/.test(l)) return true;
          try {
            JSON.parse(l);
            return true;
          } catch {
            return false;
          }
        });
        await refusedIfNotJson('application/x-ndjson', changed, parses);
      }),
      { numRuns: 25 },
    );
  }, 120_000);
});
