// Writes the latest run's table into README.md between the bench markers, appending a
// "Performance" section at the end if the markers aren't there yet; other sections untouched.
import fsp from 'node:fs/promises';
import path from 'node:path';
import { REPO_ROOT } from './processes.js';

export const START = '<!-- bench:start -->';
export const END = '<!-- bench:end -->';

const INTRO = `## Performance

\`npm run bench\` (full) or \`npm run bench -- --quick\` (about 3 min) starts Sluice as a child
process exactly as \`npm start\` would run \`src/main.ts\` (bundled with esbuild; temp \`DATA_DIR\`,
embedded database), the baselines — a bare hono server that reads and \`JSON.parse\`s the same bodies
(the produce ceiling), a hono hello-world (the request ceiling), raw \`fs\` append + \`fdatasync\` on the
same disk — and the peers: the Durable Streams reference server (file-backed, fsync per append) and a
single-node Apache Kafka 3.9 KRaft broker resolved from Maven Central
(\`test/bench/peers/kafka/pom.xml\`, cached in \`~/.cache/sluice-bench/kafka\`) driven by kafkajs.
Each scenario sends a bounded number of requests over a few keep-alive connections; the runner prints
one side-by-side table and writes JSON to \`.bench-results/<timestamp>.json\`. Options: \`--only=id,…\`
(produce-batch, produce-single, delivery-latency, sse-fanout, replay, groups, restart), \`--no-kafka\`,
\`--write-readme\`; environment \`BENCH_FANOUT=1000,10000\`, \`BENCH_RESTART_GB=1,10\` (full mode sizes),
\`BENCH_KAFKA_LATENCY=1\`, \`BENCH_KAFKA_GROUPS=1\`, \`BENCH_DS_FANOUT=1\` (peers that otherwise run in full mode only). A peer that can't run (no Java/Maven, download failed) is skipped with the
reason. \`npm run bench:readme\` refreshes the table below from the newest JSON. Peers are dev-only:
\`npm start\` and \`npm test\` need none of them.

Latency is measured from the send time carried in each record to its arrival at the consumer, in an
open loop (a late request still counts from when it was due). "ratio" is Sluice ÷ the other system:
above 1 is better for throughput, below 1 is better for latency and time.
`;

export async function updateReadme(markdown: string, file = path.join(REPO_ROOT, 'README.md')): Promise<string> {
  let text = '';
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch {
    /* no README yet: the section becomes its first content */
  }
  const block = `${START}\n${markdown}\n${END}`;
  const s = text.indexOf(START);
  const e = text.indexOf(END);
  if (s >= 0 && e > s) text = text.slice(0, s) + block + text.slice(e + END.length);
  else text = `${text.replace(/\s*$/, '')}${text.trim() ? '\n\n' : ''}${INTRO}\n${block}\n`;
  await fsp.writeFile(file, text);
  return file;
}
