// Writes the latest run's table into README.md between the bench markers, appending a
// "Performance" section at the end if the markers aren't there yet; other sections untouched.
import fsp from 'node:fs/promises';
import path from 'node:path';
import { REPO_ROOT } from './processes.js';

export const START = '<!-- bench:start -->';
export const END = '<!-- bench:end -->';

const INTRO = `## Performance

Measured by \`npm run bench\` (full) or \`npm run bench -- --quick\` (< 3 min): the runner starts
Sluice as a child process on a temp \`DATA_DIR\` with the embedded database, the baselines (a bare
hono server that parses the same bodies, a hono hello-world, raw \`fs\` append + \`fdatasync\`) and
the peers (the Durable Streams reference server, file-backed; a single-node Apache Kafka KRaft
broker fetched from Maven Central and driven by kafkajs), runs every scenario with a bounded number of
requests over a few keep-alive connections, prints this table and writes JSON to \`.bench-results/\`.
\`npm run bench:readme\` (or \`--write-readme\`) refreshes the table below from the latest JSON.
Peers are dev-only: nothing in \`npm start\` or \`npm test\` needs Java, Maven or the peers.
`;

export async function updateReadme(markdown: string): Promise<string> {
  const file = path.join(REPO_ROOT, 'README.md');
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
