// GET /ui: the dashboard, served from the bundle `npm run build` wrote to dist/ui (index.html,
// app.js, app.css), gzipped once in memory, with a CSP that allows nothing from other origins.
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { Context } from 'hono';
import type { App, AppEnv } from './app-env.js';

const FILES = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
} as const;
type FileName = keyof typeof FILES;

/** Same origin only; no inline script; uPlot sets element styles, which CSP allows. */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** dist/ui beside the compiled server (dist/http → dist/ui), or the repository's dist/ui when run from src/. */
function assetsDir(): string | null {
  for (const rel of ['../ui/', '../../dist/ui/']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (fs.existsSync(`${dir}index.html`) && fs.existsSync(`${dir}app.js`)) return dir;
  }
  return null;
}

interface Asset {
  body: Buffer;
  gzipped: Buffer;
  etag: string;
}

export function registerUiPage(app: App, dir: string | null = assetsDir()): void {
  let cache: Map<FileName, Asset> | undefined;
  const load = (): Map<FileName, Asset> | null => {
    if (cache) return cache;
    if (dir === null) return null;
    const out = new Map<FileName, Asset>();
    for (const name of Object.keys(FILES) as FileName[]) {
      const body = fs.readFileSync(`${dir}${name}`);
      out.set(name, {
        body,
        gzipped: gzipSync(body, { level: 9 }),
        etag: `"${body.length.toString(36)}-${hash(body)}"`,
      });
    }
    return (cache = out);
  };
  const serve = (name: FileName) => (c: Context<AppEnv>) => {
    const assets = load();
    if (!assets) {
      return c.text('The dashboard was not built: run `npm run build` (npm start does it when dist/ is stale).\n', 503);
    }
    const asset = assets.get(name)!;
    const headers: Record<string, string> = {
      'content-type': FILES[name],
      'cache-control': 'no-cache',
      etag: asset.etag,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      vary: 'accept-encoding',
    };
    if (name === 'index.html') {
      headers['content-security-policy'] = CSP;
      headers['x-frame-options'] = 'DENY';
    }
    if (c.req.header('if-none-match') === asset.etag) return c.body(null, 304, headers);
    if (/\bgzip\b/.test(c.req.header('accept-encoding') ?? '')) {
      headers['content-encoding'] = 'gzip';
      return c.body(new Uint8Array(asset.gzipped), 200, headers);
    }
    return c.body(new Uint8Array(asset.body), 200, headers);
  };
  app.get('/ui', serve('index.html'));
  app.get('/ui/', serve('index.html'));
  app.get('/ui/app.js', serve('app.js'));
  app.get('/ui/app.css', serve('app.css'));
}

function hash(data: Buffer): string {
  let h = 2166136261;
  for (let i = 0; i < data.length; i++) h = Math.imul(h ^ data[i]!, 16777619);
  return (h >>> 0).toString(36);
}
