// The README's walkthrough, run as written: every ```sh block, in order, in one bash session
// (`set -euo pipefail`), against a live server on loopback (localhost:8080 is pointed at it).
// Convention (stated in the README): `sh` blocks run; `bash`, `text`, `json` blocks are shown only.
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startExampleServer, type ExampleServer } from './support/example-server.js';
import type { TestServer } from './support/server.js';

const README = fileURLToPath(new URL('../README.md', import.meta.url));

/** The ```sh blocks of a markdown text, in order. */
export function shellBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```sh\n([\s\S]*?)^```[ \t]*$/gm)].map((m) => m[1]!);
}

let example: ExampleServer;
let server: TestServer;
let workDir: string;
beforeAll(async () => {
  example = await startExampleServer('sluice-readme-');
  ({ server, dir: workDir } = example);
});
afterAll(async () => {
  await example?.stop();
});

describe('README walkthrough', () => {
  it('runs every sh block as written, top to bottom, without an error answer', async () => {
    const blocks = shellBlocks(await fs.readFile(README, 'utf8'));
    expect(blocks.length).toBeGreaterThanOrEqual(6);
    const base = new URL(server.url).host; // 127.0.0.1:<port>
    const script = [
      'set -euo pipefail',
      ...blocks.map((b, i) => `echo '=== README sh block ${i + 1}' >&2\n${b}`),
      "echo '=== README walkthrough done' >&2",
    ]
      .join('\n')
      .replace(/\b(localhost|127\.0\.0\.1):8080\b/g, base);
    const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn('bash', ['-c', script], { cwd: workDir, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 150_000);
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
    const where = `${result.stderr.slice(-1500)}\n--- stdout ---\n${result.stdout.slice(-3000)}`;
    expect(result.code, where).toBe(0);
    expect(result.stderr, where).toContain('=== README walkthrough done');
    // An answer in the error envelope means an example did not work as written.
    expect(result.stdout, where).not.toMatch(/"error":\{"code"/);
  }, 180_000);
});
