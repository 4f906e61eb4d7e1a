// Bundles the dashboard (src/ui/web, preact + uPlot) into dist/ui/: index.html, app.js, app.css,
// minified, nothing loaded from elsewhere at run time. Run by `npm run build`; prints gzipped sizes.
import fs from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Where to write: dist/ui, or the directory given as the first argument (tests). */
const outDir = path.resolve(process.argv[2] ?? path.join(root, 'dist', 'ui'));

const INDEX = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sluice</title>
<link rel="stylesheet" href="/ui/app.css">
<script type="module" src="/ui/app.js"></script>
</head>
<body>
<div id="app"></div>
<noscript>The Sluice dashboard needs JavaScript. The API reference is at <a href="/docs">/docs</a>.</noscript>
</body>
</html>
`;

await fs.mkdir(outDir, { recursive: true });
await esbuild.build({
  absWorkingDir: root,
  entryPoints: { app: 'src/ui/web/main.tsx' },
  outdir: outDir,
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2020'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  tsconfig: 'src/ui/web/tsconfig.json',
  legalComments: 'none',
  logLevel: 'warning',
});
await fs.writeFile(path.join(outDir, 'index.html'), INDEX);

if (!process.env['SLUICE_BUILD_QUIET']) {
  let total = 0;
  const sizes = [];
  for (const name of ['index.html', 'app.js', 'app.css']) {
    const data = await fs.readFile(path.join(outDir, name));
    const gz = gzipSync(data, { level: 9 }).length;
    total += gz;
    sizes.push(`${name} ${(data.length / 1024).toFixed(1)} KiB (${(gz / 1024).toFixed(1)} KiB gzipped)`);
  }
  process.stderr.write(`dashboard: ${sizes.join(', ')}; ${(total / 1024).toFixed(1)} KiB gzipped in all\n`);
}
