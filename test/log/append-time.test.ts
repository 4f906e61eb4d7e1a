// Append time survives a restart (#12.6): retention after a reopen still runs on when
// records were appended, never on the timestamps producers stamped them with.
import { describe, expect, it } from 'vitest';
import type { RecordInput } from '../../src/log/index.js';
import { afterTest, cleanUpAfterEach, config, newTopic, openStore, scratchDir } from './helpers.js';

cleanUpAfterEach();

const CENTURY_MS = 100 * 365 * 86_400_000;
const rec = (timestamp: number): RecordInput[] => [
  { key: null, value: Buffer.from('v'.repeat(300)), headers: [], timestamp },
];

describe('append time across restarts', () => {
  for (const clean of [true, false]) {
    it(`${clean ? 'clean' : 'unclean'} restart: past- and future-stamped segments expire retention_ms after their append`, async () => {
      const dir = await scratchDir();
      let now = 1_800_000_000_000;
      const cfg = { ...config, segmentBytes: 1024, retentionMs: 60_000 };
      const store = await openStore(dir, { clock: () => now });
      const topic = newTopic();
      const past = await store.createPartition(topic, 0, cfg);
      const future = await store.createPartition(topic, 1, cfg);
      for (let i = 0; i < 9; i++) {
        expect((await past.append(rec(1_000 + i), { durability: 'write' })).ok).toBe(true);
        expect((await future.append(rec(now + CENTURY_MS), { durability: 'write' })).ok).toBe(true);
      }
      if (clean) await store.close();
      else for (const p of [past, future]) await (p as unknown as { flush(): Promise<void> }).flush();
      now += 30_000;
      const again = await openStore(dir, { clock: () => now });
      afterTest(() => again.close());
      for (const p of [0, 1]) again.getPartition(topic, p)!.updateConfig(cfg);
      await again.enforceRetention(now);
      expect([0, 1].map((p) => again.getPartition(topic, p)!.startOffset())).toEqual([0, 0]);
      now += 60_000;
      await again.enforceRetention(now);
      expect([0, 1].map((p) => again.getPartition(topic, p)!.startOffset())).toEqual([9, 9]);
    });
  }
});
