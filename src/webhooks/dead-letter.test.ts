// Dead-lettering never throws: a record too deep to re-produce makes the append fail (the
// webhook keeps retrying, failing), and ordinary records go to the topic unchanged.
import { describe, expect, it } from 'vitest';
import type { StoredRecord } from '../log/index.js';
import type { ProduceRequest } from '../topics/produce-service.js';
import { deadLetter, type DeadLetterProducer } from './dead-letter.js';
import { buildBatch } from './webhook-batch.js';

const stored = (offset: number, value: string): StoredRecord => ({
  offset,
  timestamp: 1,
  key: null,
  value: Buffer.from(value),
  headers: [],
});

function producer(): DeadLetterProducer & { requests: ProduceRequest[] } {
  const requests: ProduceRequest[] = [];
  return {
    requests,
    produce: async (req) => {
      requests.push(req);
      return { ok: true, value: { offsets: [] } };
    },
  };
}

const info = { webhookId: 'w', messageId: 'msg_1', lastStatus: 500, lastError: 'HTTP 500' };

describe('deadLetter', () => {
  it('re-produces ordinary records', async () => {
    const p = producer();
    const batch = buildBatch(
      { name: 't', format: 'json' },
      0,
      { firstOffset: 0, nextOffset: 1 },
      [stored(0, '{"a":1}')],
      null,
    );
    expect(await deadLetter(p, 'dlt', batch, info)).toEqual({ ok: true, value: undefined });
    expect(p.requests).toHaveLength(1);
  });

  it('answers an error (never throws) for a record nested too deep to re-produce', async () => {
    const p = producer();
    const deep = `${'{"a":'.repeat(5_000)}1${'}'.repeat(5_000)}`;
    const batch = buildBatch(
      { name: 't', format: 'json' },
      0,
      { firstOffset: 0, nextOffset: 2 },
      [stored(0, '1'), stored(1, deep)],
      null,
    );
    expect(JSON.parse(batch.body).records).toHaveLength(2);
    const result = await deadLetter(p, 'dlt', batch, info);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toContain('dead-letter append to "dlt" failed');
    expect(p.requests).toHaveLength(0);
  });
});
