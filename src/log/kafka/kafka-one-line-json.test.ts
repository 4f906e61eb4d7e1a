// The Kafka store never trusts a batch's ONE_LINE_JSON_VALUES bit: any producer could set it. A
// batch claiming it over values that are not one-line JSON reads exactly as one without it.
import { isUtf8 } from 'node:buffer';
import { expect, it } from 'vitest';
import { recordJsonRenderer } from '../../topics/record-json-text.js';
import { ONE_LINE_JSON_VALUES } from '../append-input.js';
import {
  fetchedPartition,
  type KafkaDriver,
  type PlatformaticFetchPartition,
  type TopicLayout,
} from './kafka-driver.js';
import { createKafkaLogStore } from './kafka-log-store.js';

const b = (s: string) => Buffer.from(s, 'utf8');
const values = [b('not json'), b('{"a":\n1}'), b('"\u2028 é"'), Buffer.from([0x22, 0xff, 0x22]), b('[1,2]')];

/** A Fetch answer as the client hands it over: one batch whose attributes claim one-line JSON values. */
function answer(attributes: number): PlatformaticFetchPartition {
  return {
    partitionIndex: 0,
    errorCode: 0,
    highWatermark: BigInt(values.length),
    logStartOffset: 0n,
    records: [
      {
        firstOffset: 0n,
        firstTimestamp: 1_700_000_000_000n,
        maxTimestamp: 1_700_000_000_004n,
        attributes,
        lastOffsetDelta: values.length - 1,
        records: values.map((value, i) => ({
          timestampDelta: BigInt(i),
          offsetDelta: i,
          key: i % 2 ? b(`k${i}`) : null,
          value,
          headers: [],
        })),
      },
    ],
  };
}

/** Just enough of a cluster for one partition whose fetches return `answer(attributes)`. */
function fakeDriver(attributes: number): KafkaDriver {
  const topics = new Map<string, TopicLayout>();
  const unused = () => Promise.reject(new Error('not in this test'));
  return {
    metadata: async (names) => new Map(names.flatMap((n) => (topics.has(n) ? [[n, topics.get(n)!]] : []))),
    listTopics: async () => [...topics.keys()],
    createTopic: async (name) => void topics.set(name, { id: 'kafka-topic-id', leaders: [0] }),
    growTopic: unused,
    deleteTopic: unused,
    alterTopicConfig: async () => {},
    describeTopicConfig: async () => ({}),
    produce: unused,
    fetch: async () => fetchedPartition(answer(attributes)),
    tailFetch: unused,
    partitionSizes: async () => new Map(),
    listOffset: async (_name, _partition, ts) => (ts === -2 ? 0 : values.length),
    listOffsets: async () => new Map(),
    commitGroupOffsets: unused,
    close: async () => {},
  };
}

async function readJoined(attributes: number): Promise<Buffer> {
  const store = createKafkaLogStore({
    connection: { brokers: ['fake:9092'], clientId: 'test' },
    driver: fakeDriver(attributes),
    refreshMs: 0,
  });
  await store.open();
  try {
    const log = await store.createPartition('0d9c5a8e-3c1e-4f53-9d0e-6f1b1f6a5b01', 0, {
      segmentBytes: 1 << 20,
      segmentMs: -1,
      retentionMs: -1,
      retentionBytes: -1,
    });
    const r = await log.readRun(0, { maxRecords: 100, maxBytes: 1 << 20 });
    if (!r.ok) throw new Error('out of range');
    const run = r.value.run;
    expect(run.length).toBe(values.length);
    for (let i = 0; i < run.length; i++) expect(run.oneLineJson(i)).toBe(false);
    const render = recordJsonRenderer('t', 0, 'json');
    const joined = render.writer.joinRun(run, '[', ']');
    // The checking path: each record rendered on its own.
    expect(joined.equals(b(`[${run.toRecords().map(render).join(',')}]`))).toBe(true);
    return joined;
  } finally {
    await store.close();
  }
}

it('Kafka store: a batch whose bit claims one-line JSON values is read exactly as one without it', async () => {
  const bytes = await readJoined(ONE_LINE_JSON_VALUES);
  expect(bytes.equals(await readJoined(0))).toBe(true);
  // Nothing was spliced unchecked: not-JSON goes out as base64, a line break is compacted, a
  // string that is not UTF-8 is decoded (U+FFFD), never copied as its bytes.
  expect(isUtf8(bytes)).toBe(true);
  const claimed = bytes.toString('utf8');
  expect(claimed).toContain('"value":"bm90IGpzb24=","headers":{},"value_encoding":"base64"');
  expect(claimed).toContain('"value":"\ufffd","headers":{}');
  expect(claimed).toContain('"value":{"a":1},');
  expect(claimed).not.toMatch(/[\n\r]/);
  expect(JSON.parse(claimed)).toHaveLength(values.length);
});
