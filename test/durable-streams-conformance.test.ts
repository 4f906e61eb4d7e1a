// The Durable Streams reference conformance suite (@durable-streams/server-conformance-tests)
// run against a real Sluice process serving the protocol at /v1/stream/{path}.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runConformanceTests } from '@durable-streams/server-conformance-tests';
import { afterAll, beforeAll } from 'vitest';
import { killAllChildren, startChild, type ChildServer } from './support/child-server.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

/** The suite reads baseUrl lazily, so it can be filled in once the server listens. */
const options = { baseUrl: 'http://127.0.0.1:1', longPollTimeoutMs: 500 };
let server: ChildServer | undefined;
let database: TestDatabase | undefined;
let dataDir: string | undefined;

beforeAll(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-ds-'));
  database = await createTestDatabase();
  server = await startChild({
    DATA_DIR: dataDir,
    ...(database.url ? { DATABASE_URL: database.url } : {}),
    SLUICE_AUTH: 'none',
    SLUICE_CORS_ORIGINS: '*',
    SLUICE_STREAM_LONG_POLL_MS: String(options.longPollTimeoutMs),
    SLUICE_STREAM_SWEEP_MS: '200',
  });
  options.baseUrl = server.url;
});

afterAll(async () => {
  await server?.stop();
  killAllChildren();
  await database?.drop();
  if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
});

runConformanceTests(options);
