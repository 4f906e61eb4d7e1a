// Runs the LogStore conformance suite against the Kafka store, on the cluster named by
// SLUICE_TEST_KAFKA_BROKERS (`npm run test:kafka` starts a 3-broker cluster and sets it).
import { randomBytes, randomUUID } from 'node:crypto';
import { tracingChannel } from 'node:diagnostics_channel';
import { expect, it } from 'vitest';
import { defaultConfig, runLogStoreConformance } from '../log-store.conformance.js';
import type { RecordInput } from '../types.js';
import { createPlatformaticDriver, kafkaClientSupported, type KafkaDriver } from './kafka-driver.js';
import { createKafkaLogStore } from './kafka-log-store.js';

const brokers = process.env['SLUICE_TEST_KAFKA_BROKERS'];

if (!brokers || !kafkaClientSupported()) {
  it.skip(`Kafka LogStore conformance (needs SLUICE_TEST_KAFKA_BROKERS and Node.js ≥ 22.22: npm run test:kafka)`, () => {});
} else {
  runLogStoreConformance(
    'kafka',
    async ({ clock }) => {
      // A prefix per store: each test sees only its own topics, and removes them after.
      const store = createKafkaLogStore({
        connection: { brokers: brokers.split(','), clientId: 'sluice-conformance' },
        topicPrefix: `sluice-test-${randomBytes(4).toString('hex')}.`,
        clock,
      });
      await store.open();
      return {
        store,
        dispose: async () => {
          for (const id of store.topicIds()) await store.deleteTopic(id).catch(() => {});
          await store.close();
        },
      };
    },
    { storeRunsRetention: false, trustsOneLineJson: false },
  );
  /** A store whose Fetch calls (reads; the shared tail uses its own call) are counted. */
  const countingStore = async (topicPrefix: string) => {
    const connection = { brokers: brokers.split(','), clientId: 'sluice-recent' };
    const real = await createPlatformaticDriver(connection);
    const counter = { fetches: 0 };
    const driver: KafkaDriver = {
      ...real,
      fetch: (...args) => {
        counter.fetches++;
        return real.fetch(...args);
      },
    };
    const store = createKafkaLogStore({ connection, topicPrefix, driver });
    await store.open();
    return { store, counter };
  };
  const plainStore = async (topicPrefix: string) => {
    const store = createKafkaLogStore({
      connection: { brokers: brokers.split(','), clientId: 'sluice-recent' },
      topicPrefix,
    });
    await store.open();
    return store;
  };
  const ts = 1_700_000_000_123;
  /** Records whose round trip through Kafka is easy to get subtly wrong. */
  const odd: RecordInput[] = [
    { key: null, value: Buffer.from('{"a":1}'), headers: [], timestamp: ts },
    { key: Buffer.alloc(0), value: Buffer.alloc(0), headers: [], timestamp: ts + 1 },
    { key: Buffer.from('k'), value: null, headers: [{ key: 'h', value: null }], timestamp: ts - 5 },
    {
      key: Buffer.from([0, 255, 1]),
      value: Buffer.from('ünï✓ \u2028'),
      headers: [
        { key: 'dup', value: Buffer.from('1') },
        { key: 'dup', value: Buffer.from('2') },
        { key: 'ключ', value: Buffer.alloc(0) },
      ],
      timestamp: 0,
    },
  ];
  const all = { maxRecords: 1000, maxBytes: 1 << 20 };
  const until = async (ok: () => boolean) => {
    const deadline = Date.now() + 30_000;
    while (!ok() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  };

  it("a tailed partition serves this node's acknowledged batches without a fetch, exactly as Kafka returns them", async () => {
    const topicPrefix = `sluice-test-${randomBytes(4).toString('hex')}.`;
    const { store: writer, counter } = await countingStore(topicPrefix);
    const reader = await plainStore(topicPrefix);
    try {
      const topicId = randomUUID();
      const log = await writer.createPartition(topicId, 0, defaultConfig);
      // Appended before anyone tails: not kept, so reads fetch it from Kafka.
      expect((await log.append([odd[0]!], { durability: 'fsync' })).ok).toBe(true);
      const off = log.onAppend(() => {});
      const tagged = await log.append(odd, { durability: 'fsync', tag: Buffer.from('tag-1') });
      const plain = await log.append(odd.slice(1), { durability: 'fsync' });
      expect(tagged.ok && plain.ok).toBe(true);

      counter.fetches = 0;
      const fromKept = await log.read(1, all);
      expect(counter.fetches).toBe(0);
      const mid = await log.read(3, { maxRecords: 2, maxBytes: 1 << 20 });
      expect(counter.fetches).toBe(0);
      const across = await log.read(0, all);
      expect(counter.fetches).toBeGreaterThan(0);

      const fetched = await (await reader.createPartition(topicId, 0, defaultConfig)).read(0, all);
      if (!fromKept.ok || !mid.ok || !across.ok || !fetched.ok) throw new Error('read failed');
      expect(fetched.value.records).toHaveLength(8);
      expect(fromKept.value.records).toEqual(fetched.value.records.slice(1));
      expect(fromKept.value.nextOffset).toBe(fetched.value.nextOffset);
      expect(mid.value.records).toEqual(fetched.value.records.slice(3, 5));
      expect(mid.value.nextOffset).toBe(5);
      expect(across.value.records).toEqual(fetched.value.records);

      // Nobody tails any more: what was kept is let go, and reads fetch again.
      off();
      counter.fetches = 0;
      expect((await log.read(1, { maxRecords: 1, maxBytes: 1 << 20 })).ok).toBe(true);
      expect(counter.fetches).toBeGreaterThan(0);
    } finally {
      for (const id of writer.topicIds()) await writer.deleteTopic(id).catch(() => {});
      await reader.close();
      await writer.close();
    }
  });

  it('batches another node appends reach a tail here with its long-poll answer, and are served without another fetch', async () => {
    const topicPrefix = `sluice-test-${randomBytes(4).toString('hex')}.`;
    const writer = await plainStore(topicPrefix);
    const { store: tailing, counter } = await countingStore(topicPrefix);
    try {
      const topicId = randomUUID();
      const theirs = await writer.createPartition(topicId, 0, defaultConfig);
      const mine = await tailing.createPartition(topicId, 0, defaultConfig);
      const seen: number[] = [];
      const off = mine.onAppend((end) => seen.push(end));
      // A first append reaches this node through its shared tail once that watches the partition.
      expect((await theirs.append([odd[0]!], { durability: 'fsync' })).ok).toBe(true);
      await until(() => mine.endOffset() >= 1);
      expect(mine.endOffset()).toBe(1);

      expect((await theirs.append(odd, { durability: 'fsync', tag: Buffer.from('tag-2') })).ok).toBe(true);
      await until(() => mine.endOffset() >= 5);
      expect(mine.endOffset()).toBe(5);
      counter.fetches = 0;
      const live = await mine.read(1, all);
      expect(counter.fetches).toBe(0);
      off();

      const fetched = await theirs.read(0, all);
      if (!live.ok || !fetched.ok) throw new Error('read failed');
      expect(live.value.records).toEqual(fetched.value.records.slice(1));
      expect(live.value.nextOffset).toBe(5);
      expect(seen.at(-1)).toBe(5);
    } finally {
      for (const id of writer.topicIds()) await writer.deleteTopic(id).catch(() => {});
      await tailing.close();
      await writer.close();
    }
  });

  it('appends waiting behind an in-flight produce go to Kafka as one batch, each answered with exactly its offsets', async () => {
    const topicPrefix = `sluice-test-${randomBytes(4).toString('hex')}.`;
    const connection = { brokers: brokers.split(','), clientId: 'sluice-coalesce' };
    const real = await createPlatformaticDriver(connection);
    const sent: number[] = [];
    let hold: Promise<void> | undefined;
    const driver: KafkaDriver = {
      ...real,
      produce: async (...args) => {
        sent.push(args[2].length);
        if (hold) await hold;
        return real.produce(...args);
      },
    };
    const store = createKafkaLogStore({ connection, topicPrefix, driver });
    await store.open();
    const reader = await plainStore(topicPrefix);
    try {
      const topicId = randomUUID();
      const log = await store.createPartition(topicId, 0, defaultConfig);
      expect((await log.append([odd[0]!], { durability: 'fsync' })).ok).toBe(true);
      sent.length = 0;
      let release!: () => void;
      hold = new Promise((r) => (release = r));
      const rec = (v: string): RecordInput => ({ key: null, value: Buffer.from(v), headers: [], timestamp: ts });
      // One in flight (held), then four plain appends and a tagged one queue behind it.
      const first = log.append([rec('a')], { durability: 'fsync' });
      await until(() => sent.length > 0);
      const appends = [
        first,
        log.append([rec('b'), rec('c')], { durability: 'fsync' }),
        log.append([rec('d')], { durability: 'write' }),
        log.append([rec('t1'), rec('t2')], { durability: 'fsync', tag: Buffer.from('tag-q') }),
        log.append([rec('e')], { durability: 'fsync' }),
        log.append([rec('f'), rec('g')], { durability: 'fsync' }),
      ];
      release();
      const answers = (await Promise.all(appends)).map((a) => (a.ok ? a.value : a.error));
      // Before: one request per append (6), each queued behind the one before at the client.
      expect(sent).toEqual([1, 3, 2, 3]);
      expect(answers).toEqual([
        { baseOffset: 1, lastOffset: 1 },
        { baseOffset: 2, lastOffset: 3 },
        { baseOffset: 4, lastOffset: 4 },
        { baseOffset: 5, lastOffset: 6 },
        { baseOffset: 7, lastOffset: 7 },
        { baseOffset: 8, lastOffset: 9 },
      ]);
      const fetched = await (await reader.createPartition(topicId, 0, defaultConfig)).read(1, all);
      if (!fetched.ok) throw new Error('read failed');
      expect(fetched.value.records.map((r) => [r.offset, r.value?.toString()])).toEqual(
        ['a', 'b', 'c', 'd', 't1', 't2', 'e', 'f', 'g'].map((v, i) => [i + 1, v]),
      );
      // The tagged batch stayed a batch of its own: another node's catch-up finds its tag.
      const tags = await (await reader.createPartition(topicId, 0, defaultConfig)).recentTags(0);
      expect(tags.map((t) => [t.baseOffset, t.lastOffset, t.tag.toString()])).toEqual([[5, 6, 'tag-q']]);
    } finally {
      for (const id of store.topicIds()) await store.deleteTopic(id).catch(() => {});
      await reader.close();
      await store.close();
    }
  });

  it('appends to two partitions led by one broker are in flight together, not queued behind each other', async () => {
    const topicPrefix = `sluice-test-${randomBytes(4).toString('hex')}.`;
    const connection = { brokers: brokers.split(','), clientId: 'sluice-spread' };
    const store = await plainStore(topicPrefix);
    const probe = await createPlatformaticDriver(connection);
    // Produce requests on the wire (the client publishes each as it writes it and as it is answered).
    let inFlight = 0;
    let most = 0;
    const api = tracingChannel<unknown, { apiKey?: number }>('plt:kafka:connections:api');
    const handlers = {
      start: (m: { apiKey?: number }) => {
        if (m.apiKey === 0) most = Math.max(most, ++inFlight);
      },
      asyncStart: (m: { apiKey?: number }) => {
        if (m.apiKey === 0) inFlight--;
      },
      end: () => {},
      asyncEnd: () => {},
      error: () => {},
    };
    try {
      const topicId = randomUUID();
      // Six partitions on three brokers: at least two share a leader.
      const logs = [await store.createPartition(topicId, 5, defaultConfig)];
      for (let p = 0; p < 5; p++) logs.unshift(await store.createPartition(topicId, 4 - p, defaultConfig));
      const leaders = (await probe.metadata([`${topicPrefix}${topicId}`], true)).get(
        `${topicPrefix}${topicId}`,
      )!.leaders;
      const a = leaders.findIndex((l, i) => leaders.indexOf(l) !== i);
      const b = leaders.indexOf(leaders[a]!);
      const rec = (v: string): RecordInput => ({ key: null, value: Buffer.from(v), headers: [], timestamp: ts });
      for (const p of [a, b]) expect((await logs[p]!.append([rec('warm')], { durability: 'fsync' })).ok).toBe(true);
      api.subscribe(handlers);
      for (let i = 0; i < 5; i++) {
        const both = await Promise.all([a, b].map((p) => logs[p]!.append([rec(`r${i}`)], { durability: 'fsync' })));
        expect(both.every((r) => r.ok)).toBe(true);
      }
      // Before: the idempotent client's one connection per broker carried one request at a time.
      expect(most).toBe(2);
    } finally {
      api.unsubscribe(handlers);
      for (const id of store.topicIds()) await store.deleteTopic(id).catch(() => {});
      await probe.close();
      await store.close();
    }
  });

  it('a topic grown a moment ago: an append to a new partition lands there, never in an old one', async () => {
    const topicPrefix = `sluice-test-${randomBytes(4).toString('hex')}.`;
    const store = await plainStore(topicPrefix);
    try {
      const topicId = randomUUID();
      const logs = [];
      for (let p = 0; p < 2; p++) logs.push(await store.createPartition(topicId, p, defaultConfig));
      // The producer learns the topic with two partitions.
      for (const log of logs) expect((await log.append([odd[0]!], { durability: 'fsync' })).ok).toBe(true);
      for (let p = 2; p < 4; p++) logs.push(await store.createPartition(topicId, p, defaultConfig));
      for (const p of [2, 3]) {
        const appended = await logs[p]!.append([odd[1]!], { durability: 'fsync' });
        expect(appended.ok ? appended.value : appended.error).toEqual({ baseOffset: 0, lastOffset: 0 });
      }
      await store.enforceRetention();
      expect(logs.map((l) => l.endOffset())).toEqual([1, 1, 1, 1]);
    } finally {
      for (const id of store.topicIds()) await store.deleteTopic(id).catch(() => {});
      await store.close();
    }
  });

  it('an exposed topic deleted natively and created again with fewer partitions: an append to a partition it lost is refused and lands nowhere; one given an offset already handed out is refused', async () => {
    const topicPrefix = `sluice-test-${randomBytes(4).toString('hex')}.`;
    const store = await plainStore(topicPrefix);
    const reader = await plainStore(topicPrefix);
    const nativeName = '@platformatic/kafka';
    const native = (await import(nativeName)) as {
      Admin: new (o: object) => {
        createTopics(o: object): Promise<unknown>;
        deleteTopics(o: object): Promise<unknown>;
        close(): Promise<void>;
      };
    };
    const admin = new native.Admin({ clientId: 'sluice-recreate', bootstrapBrokers: brokers.split(',') });
    const name = `sluice-test-exposed-${randomBytes(4).toString('hex')}`;
    const rec = (v: string): RecordInput => ({ key: null, value: Buffer.from(v), headers: [], timestamp: ts });
    try {
      await admin.createTopics({ topics: [name], partitions: 3, replicas: -1 });
      const topicId = randomUUID();
      const deadline = Date.now() + 60_000;
      // A topic created a moment ago may not be in every broker's metadata yet.
      const open = async (p: number) => {
        for (;;) {
          try {
            return await store.createPartition(topicId, p, defaultConfig, { external: name });
          } catch (e) {
            if (Date.now() > deadline) throw e;
            await new Promise((r) => setTimeout(r, 200));
          }
        }
      };
      const logs = [];
      for (let p = 0; p < 3; p++) logs.push(await open(p));
      for (const log of logs) expect((await log.append([rec('before')], { durability: 'fsync' })).ok).toBe(true);

      await admin.deleteTopics({ topics: [name] });
      // Kafka deletes asynchronously: created again (one partition) once the old one is gone.
      for (;;) {
        try {
          await admin.createTopics({ topics: [name], partitions: 1, replicas: -1 });
          break;
        } catch (e) {
          if (Date.now() > deadline) throw e;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      // The producer client re-reads a topic's layout when it is 5 s old: past that, a produce to
      // partition 0 brings its view of the new, one-partition topic.
      await new Promise((r) => setTimeout(r, 5_500));
      // Partition 0 had handed out offset 0 already: the new topic's offset 0 is not acknowledged
      // again, and the partition refuses appends from then on.
      for (let i = 0; ; i++) {
        const r = await logs[0]!.append([rec(`p0-${i}`)], { durability: 'fsync' });
        expect(r.ok).toBe(false);
        if (!r.ok && r.error.reason.includes('created again')) break;
        if (Date.now() > deadline) throw new Error('partition 0 never saw the new topic');
      }
      expect((await logs[0]!.append([rec('after')], { durability: 'fsync' })).ok).toBe(false);

      const lost = await logs[2]!.append([rec('to-partition-2')], { durability: 'fsync' });
      expect(lost.ok).toBe(false);
      // Partition 0 of the new topic holds nothing meant for partition 2 (only the refused p0 appends).
      const got = await (await reader.createPartition(randomUUID(), 0, defaultConfig, { external: name })).read(0, all);
      if (!got.ok) throw new Error('read failed');
      expect(got.value.records.length).toBeGreaterThan(0);
      for (const r of got.value.records) expect(r.value?.toString()).toMatch(/^p0-/);
    } finally {
      for (const id of store.topicIds()) await store.deleteTopic(id).catch(() => {});
      await admin.deleteTopics({ topics: [name] }).catch(() => {});
      await admin.close();
      await reader.close();
      await store.close();
    }
  });

  it('retention past batches kept for a tail: what lies below the new start is never served', async () => {
    const topicPrefix = `sluice-test-${randomBytes(4).toString('hex')}.`;
    const { store, counter } = await countingStore(topicPrefix);
    const nativeName = '@platformatic/kafka';
    const native = (await import(nativeName)) as {
      Admin: new (o: object) => {
        deleteRecords(o: object): Promise<unknown>;
        close(): Promise<void>;
      };
    };
    const admin = new native.Admin({ clientId: 'sluice-retention', bootstrapBrokers: brokers.split(',') });
    try {
      const topicId = randomUUID();
      const log = await store.createPartition(topicId, 0, defaultConfig);
      const off = log.onAppend(() => {});
      for (let b = 0; b < 3; b++) expect((await log.append(odd, { durability: 'fsync' })).ok).toBe(true);
      const before = await log.read(0, all);
      if (!before.ok) throw new Error('read failed');
      expect(before.value.records).toHaveLength(12);

      // Kafka's retention (here: DeleteRecords) moves the start into the middle of the second batch.
      await admin.deleteRecords({
        topics: [{ name: `${topicPrefix}${topicId}`, partitions: [{ partition: 0, offset: 6n }] }],
      });
      await store.enforceRetention();
      expect(log.startOffset()).toBe(6);
      const below = await log.read(4, all);
      expect(below.ok ? 'served' : below.error.code).toBe('offset_out_of_range');
      counter.fetches = 0;
      const from = await log.read(6, all);
      if (!from.ok) throw new Error('read failed');
      expect(from.value.records.map((r) => r.offset)).toEqual([6, 7, 8, 9, 10, 11]);
      expect(from.value.records).toEqual(before.value.records.slice(6));
      off();
    } finally {
      for (const id of store.topicIds()) await store.deleteTopic(id).catch(() => {});
      await admin.close();
      await store.close();
    }
  });

  it('an exposed LogAppendTime topic: tails and reads give the time the broker wrote, never the one sent', async () => {
    const topicPrefix = `sluice-test-${randomBytes(4).toString('hex')}.`;
    const connection = { brokers: brokers.split(','), clientId: 'sluice-log-append-time' };
    const driver = await createPlatformaticDriver(connection);
    const store = createKafkaLogStore({ connection, topicPrefix, driver });
    await store.open();
    const external = `sluice-test-native-${randomBytes(4).toString('hex')}`;
    try {
      await driver.createTopic(external, 1, { 'message.timestamp.type': 'LogAppendTime' }, 1);
      // Created on one broker: wait until the metadata every broker answers shows it with a leader.
      const deadline = Date.now() + 30_000;
      for (;;) {
        const layout = (await driver.metadata([external], true).catch(() => undefined))?.get(external);
        if (layout && layout.leaders.every((l) => l >= 0)) break;
        if (Date.now() > deadline) throw new Error(`Kafka topic ${external} did not appear within 30 s`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const topicId = randomUUID();
      const log = await store.createPartition(topicId, 0, defaultConfig, { external });
      const off = log.onAppend(() => {});
      const sentAt = ts; // long ago: the broker's append time is now
      const t0 = Date.now();
      expect((await log.append(odd.slice(0, 2), { durability: 'fsync' })).ok).toBe(true);
      const tailed = await log.read(0, all);
      off();
      const fetched = await log.read(0, all); // nobody tails: from Kafka
      if (!tailed.ok || !fetched.ok) throw new Error('read failed');
      expect(tailed.value.records).toHaveLength(2);
      for (const r of tailed.value.records) {
        expect(r.timestamp).not.toBe(sentAt);
        expect(r.timestamp).toBeGreaterThanOrEqual(t0 - 60_000);
      }
      // Kafka's own consumers give every record of a LogAppendTime batch the batch's time.
      expect(new Set(tailed.value.records.map((r) => r.timestamp)).size).toBe(1);
      expect(fetched.value.records).toEqual(tailed.value.records);
    } finally {
      for (const id of store.topicIds()) await store.deleteTopic(id).catch(() => {});
      await driver.deleteTopic(external).catch(() => {});
      await store.close();
    }
  });

  it('a refresh asks Kafka for the offsets of all open partitions at once, not one partition at a time', async () => {
    const topicPrefix = `sluice-test-${randomBytes(4).toString('hex')}.`;
    const connection = { brokers: brokers.split(','), clientId: 'sluice-refresh' };
    const real = await createPlatformaticDriver(connection);
    const calls = { listOffsets: 0 };
    const driver: KafkaDriver = {
      ...real,
      listOffset: (...args) => {
        calls.listOffsets++;
        return real.listOffset(...args);
      },
      listOffsets: (...args) => {
        calls.listOffsets++;
        return real.listOffsets(...args);
      },
    };
    const store = createKafkaLogStore({ connection, topicPrefix, driver, refreshMs: 0 });
    const writer = await plainStore(topicPrefix);
    await store.open();
    try {
      const a = randomUUID();
      const b = randomUUID();
      const logs = [];
      for (let p = 0; p < 6; p++) logs.push(await store.createPartition(a, p, defaultConfig));
      for (let p = 0; p < 4; p++) logs.push(await store.createPartition(b, p, defaultConfig));
      // Another node appends to every partition: only a refresh shows it here.
      for (const [topic, n] of [
        [a, 6],
        [b, 4],
      ] as const) {
        for (let p = 0; p < n; p++) {
          const theirs = await writer.createPartition(topic, p, defaultConfig);
          expect((await theirs.append(odd.slice(0, p + 1), { durability: 'fsync' })).ok).toBe(true);
        }
      }
      calls.listOffsets = 0;
      await store.enforceRetention();
      // Earliest and latest: one request each, whatever the number of partitions.
      expect(calls.listOffsets).toBeLessThanOrEqual(2);
      expect(logs.map((l) => l.endOffset())).toEqual([1, 2, 3, 4, 5, 6, 1, 2, 3, 4].map((n) => Math.min(n, 4)));

      // Another node deletes one of the topics: the others are still refreshed.
      await writer.deleteTopic(b);
      expect((await (await writer.createPartition(a, 0, defaultConfig)).append(odd, { durability: 'fsync' })).ok).toBe(
        true,
      );
      await store.enforceRetention();
      expect(logs[0]!.endOffset()).toBe(5);
    } finally {
      for (const id of writer.topicIds()) await writer.deleteTopic(id).catch(() => {});
      await writer.close();
      await store.close();
    }
  });

  it('offsets and sizes come from Kafka: a node that appended nothing shows what another appended', async () => {
    const topicPrefix = `sluice-test-${randomBytes(4).toString('hex')}.`;
    const writer = await plainStore(topicPrefix);
    const other = await plainStore(topicPrefix);
    try {
      const topicId = randomUUID();
      const theirs = await writer.createPartition(topicId, 0, defaultConfig);
      const mine = await other.createPartition(topicId, 0, defaultConfig);
      const value = Buffer.alloc(1000, 'v');
      for (let i = 0; i < 5; i++) {
        const batch = Array.from({ length: 10 }, () => ({ key: null, value, headers: [], timestamp: ts }));
        expect((await theirs.append(batch, { durability: 'fsync' })).ok).toBe(true);
      }
      expect(mine.sizeBytes()).toBe(0);
      await other.enforceRetention();
      expect(mine.endOffset()).toBe(50);
      expect(mine.sizeBytes()).toBeGreaterThanOrEqual(50 * 1000);
      expect(mine.sizeBytes()).toBeLessThan(50 * 1000 + 5 * 200);
      // Both nodes now show Kafka's figure for the partition.
      await writer.enforceRetention();
      expect(theirs.sizeBytes()).toBe(mine.sizeBytes());
    } finally {
      for (const id of writer.topicIds()) await writer.deleteTopic(id).catch(() => {});
      await other.close();
      await writer.close();
    }
  });
}
