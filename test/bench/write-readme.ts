// `npm run bench:readme`: renders the newest complete run in .bench-results/ (or the file given)
// into README.md's Performance section, without running anything.
import fsp from 'node:fs/promises';
import path from 'node:path';
import { REPO_ROOT } from './lib/processes.js';
import { updateReadme } from './lib/readme.js';
import { renderMarkdown, type RunResult } from './lib/report.js';

const dir = path.join(REPO_ROOT, '.bench-results');
const arg = process.argv[2];

/** The file given, else the newest run of every scenario (an --only run is not the whole picture). */
async function pick(): Promise<{ file: string; run: RunResult } | null> {
  if (arg) return { file: arg, run: JSON.parse(await fsp.readFile(arg, 'utf8')) as RunResult };
  const names = (await fsp.readdir(dir).catch(() => [] as string[]))
    .filter((f) => f.endsWith('.json'))
    .sort()
    .reverse();
  for (const name of names) {
    const file = path.join(dir, name);
    const run = JSON.parse(await fsp.readFile(file, 'utf8')) as RunResult;
    if (!run.only) return { file, run };
  }
  return null;
}

const picked = await pick();
if (!picked) {
  process.stderr.write('No complete benchmark run in .bench-results/: run `npm run bench -- --quick` first.\n');
  process.exit(1);
}
const readme = await updateReadme(renderMarkdown(picked.run));
process.stdout.write(`${path.relative(REPO_ROOT, readme)} updated from ${path.relative(REPO_ROOT, picked.file)}\n`);
