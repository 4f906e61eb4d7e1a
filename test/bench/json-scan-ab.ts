// Microbenchmark of the JSON scanners, this tree against a git ref (default: HEAD), side by side:
// `npx tsx test/bench/json-scan-ab.ts [--base=<ref>] [--rounds=5]`. Each side is bundled with
// esbuild as the server is, and the two alternate within each round; prints CPU ns per call.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { bundleNode, REPO_ROOT } from './lib/processes.js';
import { sluiceJsonBody, sluiceNdjsonBody, values } from './lib/records.js';

interface Produced {
  ok: boolean;
}
interface Scanners {
  isJsonText(buf: Uint8Array): boolean;
  spliceableJson(buf: Uint8Array, start: number, end: number, view?: DataView): number;
  scanProduceBody(body: Buffer, ctx: object, maxRecords: number, sink: () => boolean): boolean;
  /** A produce service over an in-memory log (batches encoded as on disk): body → appended batch. */
  producer(): Promise<(format: 'json' | 'ndjson', body: Uint8Array) => Promise<Produced>>;
}

const arg = (name: string, dflt: string) =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const base = arg('base', 'HEAD');
const rounds = Number(arg('rounds', '9'));

async function bundle(srcRoot: string, out: string): Promise<Scanners> {
  const entry = path.join(srcRoot, 'bench-entry.ts');
  fs.writeFileSync(
    entry,
    `export { isJsonText, spliceableJson } from './topics/record-json-scan.js';\n` +
      `export { scanProduceBody } from './topics/produce-scan.js';\n` +
      `import { ProduceService } from './topics/produce-service.js';\n` +
      `import { createMemoryLogStore } from './log/index.js';\n` +
      `export async function producer() {\n` +
      `  const store = createMemoryLogStore({ retentionCheckIntervalMs: 0 });\n` +
      `  await store.open();\n` +
      `  const cfg = { segmentBytes: 64 << 20, segmentMs: -1, retentionMs: -1, retentionBytes: 256 << 20 };\n` +
      `  for (let p = 0; p < 4; p++) await store.createPartition('t', p, cfg);\n` +
      `  const topic = { id: 't', name: 't', partitions: 4, config: { value_format: 'json', max_record_bytes: 1 << 20, durability: 'write' } };\n` +
      `  const svc = new ProduceService({ lookup: () => topic }, store, { maxBodyBytes: 64 << 20, maxRecordsPerRequest: 10000, idempotencyWindowMs: 60000 });\n` +
      `  let n = 0;\n` +
      `  return async (format, body) => {\n` +
      `    if (++n % 200 === 0) await store.enforceRetention();\n` +
      `    const r = await svc.produce({ topic: 't', format, body: format === 'json' ? body : new Blob([body]).stream() });\n` +
      `    return r;\n` +
      `  };\n` +
      `}\n`,
  );
  await bundleNode(entry, out);
  fs.rmSync(entry);
  return (await import(pathToFileURL(out).href)) as Scanners;
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'json-scan-ab-'));
try {
  const oldSrc = path.join(tmp, 'old');
  fs.mkdirSync(oldSrc);
  execFileSync('sh', ['-c', `git -C ${REPO_ROOT} archive ${base} src | tar -x -C ${oldSrc}`]);
  // Bundles live in the repo so `packages: 'external'` imports resolve against its node_modules.
  const outDir = fs.mkdtempSync(path.join(REPO_ROOT, '.bench-results', 'json-scan-ab-'));
  const sides: Array<[string, Scanners]> = [
    [`base ${base}`, await bundle(path.join(oldSrc, 'src'), path.join(outDir, 'old.mjs'))],
    ['this tree', await bundle(path.join(REPO_ROOT, 'src'), path.join(outDir, 'new.mjs'))],
  ];
  fs.rmSync(outDir, { recursive: true, force: true });

  const small = values(64).map((v) => Buffer.from(v)); // ~100 B objects, as the produce bench sends
  const doc = Buffer.from(
    JSON.stringify({
      id: 'c0ffee',
      tags: ['a', 'b', 'ünïcødé', '😀'],
      nested: Array.from({ length: 40 }, (_, i) => ({ i, x: i * 1.5, s: `item ${i} \\ "quoted"`, ok: i % 2 === 0 })),
    }),
  );
  const pretty = Buffer.from(JSON.stringify(JSON.parse(doc.toString()), null, 2));
  const body = Buffer.from(sluiceJsonBody(values(1000)));
  const ctx = { format: 'json', partitionCount: 4, maxRecordBytes: 1 << 20, now: Date.now() };
  const sink = () => true;

  const cases: Array<[string, (s: Scanners) => unknown, number]> = [
    ['isJsonText, 100 B object', (s) => small.map((v) => s.isJsonText(v)), small.length],
    ['isJsonText, 3 KB document', (s) => s.isJsonText(doc), 1],
    ['isJsonText, 5 KB pretty-printed', (s) => s.isJsonText(pretty), 1],
    ['spliceableJson, 100 B object', (s) => small.map((v) => s.spliceableJson(v, 0, v.length)), small.length],
    ['spliceableJson, 3 KB document', (s) => s.spliceableJson(doc, 0, doc.length), 1],
    ['scanProduceBody, 1000×100 B', (s) => s.scanProduceBody(body, ctx, 10_000, sink), 1],
  ];
  for (const [, run] of cases) for (const [, s] of sides) if (!run(s)) throw new Error('scanner refused the input');

  const ndjsonBody = Buffer.from(sluiceNdjsonBody(values(1000)));
  const produceJson = await Promise.all(sides.map(([, s]) => s.producer()));
  const produceNdjson = await Promise.all(sides.map(([, s]) => s.producer()));
  const asyncCases: Array<[string, (side: number) => Promise<Produced>]> = [
    ['produce JSON 1000×100 B → batch', (k) => produceJson[k]!('json', body)],
    ['produce NDJSON 1000×100 B → batch', (k) => produceNdjson[k]!('ndjson', ndjsonBody)],
  ];
  for (const [, run] of asyncCases)
    for (let k = 0; k < sides.length; k++) if (!(await run(k)).ok) throw new Error('produce refused');
  const asyncTimeOf = async (run: () => Promise<Produced>): Promise<number> => {
    const t0 = process.cpuUsage();
    let n = 0;
    for (;;) {
      await run();
      n++;
      const used = process.cpuUsage(t0);
      const ns = (used.user + used.system) * 1000;
      if (ns > 200e6) return ns / n;
    }
  };

  const timeOf = (run: () => unknown, calls: number): number => {
    let n = 1;
    for (;;) {
      // CPU time, not wall time: on a shared machine, time spent descheduled is not ours.
      const t0 = process.cpuUsage();
      for (let k = 0; k < n; k++) run();
      const used = process.cpuUsage(t0);
      const ns = (used.user + used.system) * 1000;
      if (ns > 50e6) return ns / (n * calls);
      n *= 2;
    }
  };
  const best = new Map<string, number>();
  for (let r = 0; r < rounds; r++) {
    for (const [name, run, calls] of cases) {
      const order = r % 2 === 0 ? sides : [...sides].reverse();
      for (const [side, s] of order) {
        const ns = timeOf(() => run(s), calls);
        const k = `${name}|${side}`;
        best.set(k, Math.min(best.get(k) ?? Infinity, ns));
      }
    }
    for (const [name, run] of asyncCases) {
      const order = r % 2 === 0 ? [0, 1] : [1, 0];
      for (const k of order) {
        const ns = await asyncTimeOf(() => run(k));
        const key = `${name}|${sides[k]![0]}`;
        best.set(key, Math.min(best.get(key) ?? Infinity, ns));
      }
    }
  }
  console.log(`best of ${rounds} rounds, CPU ns per call (load ${os.loadavg()[0]!.toFixed(2)})`);
  console.log(`${'case'.padEnd(34)}${sides.map(([n]) => n.padStart(16)).join('')}     new/old`);
  for (const [name] of [...cases, ...asyncCases]) {
    const [o, n] = sides.map(([side]) => best.get(`${name}|${side}`)!);
    console.log(
      `${name.padEnd(34)}${[o!, n!].map((x) => x.toFixed(0).padStart(16)).join('')}     ${(n! / o!).toFixed(2)}`,
    );
  }
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
