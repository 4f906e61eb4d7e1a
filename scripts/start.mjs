// `npm start`: builds only when dist/ is missing or older than its sources (`npm run build`,
// the one build entry point), then runs the server in this same process, so a signal sent to
// npm (which forwards it here) reaches the server's graceful shutdown instead of orphaning it.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const entry = path.join(root, 'dist', 'main.js');
/** The dashboard bundle (scripts/build-ui.mjs): built by the same `npm run build`. */
const uiBundle = path.join(root, 'dist', 'ui', 'app.js');
// What a build reads: a change to any of these makes dist/ stale.
// (src/ holds the dashboard's sources too, in src/ui/web.)
const inputs = [
  'src',
  'scripts/build-ui.mjs',
  'tsconfig.json',
  'tsconfig.build.json',
  'package.json',
  'package-lock.json',
];

/** Newest modification time under `p` (a file or a directory tree), 0 if absent. */
function newest(p) {
  let stat;
  try {
    stat = fs.statSync(p);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return stat.mtimeMs;
  let max = stat.mtimeMs; // a deleted file shows only as the directory's mtime
  for (const name of fs.readdirSync(p)) max = Math.max(max, newest(path.join(p, name)));
  return max;
}

/** When the last complete build finished: the older of the server entry and the dashboard bundle (0: one is missing). */
function builtAt() {
  try {
    return Math.min(fs.statSync(entry).mtimeMs, fs.statSync(uiBundle).mtimeMs);
  } catch {
    return 0;
  }
}

const built = builtAt();
const sources = Math.max(...inputs.map((i) => newest(path.join(root, i))));
if (built === 0 || sources > built) {
  process.stderr.write(
    `sluice: building (${built === 0 ? 'dist/ is missing' : 'sources changed since the last build'})\n`,
  );
  const npm = process.env['npm_execpath'];
  // Under npm, run the build with the same npm; otherwise with npm from PATH.
  const result = npm
    ? spawnSync(process.execPath, [npm, 'run', 'build', '--silent'], { cwd: root, stdio: 'inherit' })
    : spawnSync('npm', ['run', 'build', '--silent'], {
        cwd: root,
        stdio: 'inherit',
        shell: process.platform === 'win32',
      });
  if (result.status !== 0) {
    process.stderr.write(
      `sluice: the build failed (${result.error?.message ?? `exit ${result.status ?? result.signal}`}); not starting\n`,
    );
    process.exit(1);
  }
}

await import(pathToFileURL(entry).href);
