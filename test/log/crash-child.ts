// Child process of the kill -9 crash test: appends with fsync from several concurrent
// appenders and prints each acknowledged batch; the parent kills it at a random moment.
import { createFileLogStore } from '../../src/log/index.js';

const [dataDir, topicId, appenderCount] = process.argv.slice(2) as [string, string, string];
// The second crash test varies these: `write` durability, small segments, retention by bytes.
const env = process.env;
const durability = env.CRASH_DURABILITY === 'write' ? 'write' : 'fsync';
const store = createFileLogStore({
  dataDir,
  flushIntervalMs: Number(env.CRASH_FLUSH_MS ?? 50),
  retentionCheckIntervalMs: Number(env.CRASH_RETENTION_MS ?? 0),
});
await store.open();
const log = await store.createPartition(topicId, 0, {
  segmentBytes: Number(env.CRASH_SEGMENT_BYTES ?? 64 * 1024),
  segmentMs: -1,
  retentionMs: -1,
  retentionBytes: Number(env.CRASH_RETENTION_BYTES ?? -1),
});
process.stdout.write(`READY ${log.endOffset()}\n`);
const run = process.pid;
await Promise.all(
  Array.from({ length: Number(appenderCount) }, async (_, appender) => {
    for (let seq = 0; ; seq++) {
      const n = 1 + ((seq + appender) % 4);
      const id = `${run}.${appender}.${seq}`;
      const records = Array.from({ length: n }, (_, j) => ({
        key: Buffer.from(id),
        value: Buffer.from(`${id}.${j}:${'x'.repeat((seq * 37) % 900)}`),
        headers: [],
        timestamp: Date.now(),
      }));
      const r = await log.append(records, { durability });
      if (!r.ok) throw new Error(JSON.stringify(r.error));
      // stdout to a pipe is synchronous on Linux: once written, the parent will see it.
      process.stdout.write(`ACK ${r.value.baseOffset} ${r.value.lastOffset} ${id}\n`);
    }
  }),
);
