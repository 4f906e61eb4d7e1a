// `npm run bench:readme`: renders the newest .bench-results/*.json (or the file given) into
// README.md's Performance section, without running anything.
import fsp from 'node:fs/promises';
import path from 'node:path';
import { REPO_ROOT } from './lib/processes.js';
import { updateReadme } from './lib/readme.js';
import { renderMarkdown, type RunResult } from './lib/report.js';

const dir = path.join(REPO_ROOT, '.bench-results');
const arg = process.argv[2];
const files = arg
  ? [arg]
  : (await fsp.readdir(dir))
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((f) => path.join(dir, f));
const latest = files[files.length - 1];
if (!latest) {
  process.stderr.write('No benchmark results in .bench-results/: run `npm run bench -- --quick` first.\n');
  process.exit(1);
}
const run = JSON.parse(await fsp.readFile(latest, 'utf8')) as RunResult;
const readme = await updateReadme(renderMarkdown(run));
process.stdout.write(`${path.relative(REPO_ROOT, readme)} updated from ${path.relative(REPO_ROOT, latest)}\n`);
