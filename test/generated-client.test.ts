// A client generated the way a user would: openapi-typescript with its DEFAULT options from the
// served /openapi.json. A scripted tour of every operation (test/generated-client/tour.ts) must
// type-check against those types under tsc --strict, then run against the server.
// (openapi-fetch is not a dependency; the tour carries a ten-line client of the same shape.)
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import openapiTS, { astToString } from 'openapi-typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startExampleServer, type ExampleServer } from './support/example-server.js';
import type { TestServer } from './support/server.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

let example: ExampleServer;
let server: TestServer;
let dir: string;
beforeAll(async () => {
  example = await startExampleServer('sluice-generated-client-');
  ({ server, dir } = example);
});
afterAll(async () => {
  await example?.stop();
});

describe('client generated with openapi-typescript defaults', () => {
  it('type-checks a tour of every operation under --strict and runs it against the server', async () => {
    const document = (await (await fetch(`${server.url}/openapi.json`)).json()) as Parameters<typeof openapiTS>[0];
    const types = astToString(await openapiTS(document)); // default options, as `npx openapi-typescript` does
    await fs.writeFile(path.join(dir, 'schema.d.ts'), types);
    await fs.copyFile(path.join(ROOT, 'test/generated-client/tour.ts'), path.join(dir, 'tour.ts'));
    await fs.writeFile(path.join(dir, 'package.json'), '{"type": "module"}\n');
    await fs.writeFile(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          lib: ['ES2023'],
          types: ['node'],
          typeRoots: [path.join(ROOT, 'node_modules/@types')],
          strict: true,
          noUncheckedIndexedAccess: true,
          noImplicitReturns: true,
          noUnusedLocals: true,
          skipLibCheck: true,
          outDir: 'out',
        },
        files: ['tour.ts', 'schema.d.ts'],
      }),
    );
    const tsc = spawnSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', dir], {
      encoding: 'utf8',
    });
    expect(tsc.status, `tsc --strict on the tour:\n${tsc.stdout}${tsc.stderr}`).toBe(0);

    const { tour } = (await import(pathToFileURL(path.join(dir, 'out/tour.js')).href)) as {
      tour: (baseUrl: string, suffix: string) => Promise<string[]>;
    };
    const called = await tour(server.url, randomUUID().slice(0, 8));
    const operations = Object.values(
      (document as unknown as { paths: Record<string, Record<string, { operationId: string }>> }).paths,
    ).flatMap((item) => Object.values(item).map((op) => op.operationId));
    expect([...called].sort()).toEqual([...operations].sort());
  }, 120_000);
});
