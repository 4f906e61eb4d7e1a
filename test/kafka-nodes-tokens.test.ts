// Browser tokens across two Sluice nodes on one Kafka cluster and one Postgres, each node with its
// own DATA_DIR (as on separate machines) and no SLUICE_TOKEN_SECRET: a token minted on one node
// is accepted by the other, as a dashboard behind a load balancer needs.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allOn, bearer, mintToken } from './auth-support.js';
import { twoNodesPossible } from './support/kafka-nodes.js';
import { createTestEnv, startTestServer, type TestEnv, type TestServer } from './support/server.js';

describe.skipIf(!twoNodesPossible())('browser tokens across two Sluice nodes, each with its own DATA_DIR', () => {
  const ADMIN = `adm_${randomUUID()}${randomUUID()}`;
  let env: TestEnv;
  let a: TestServer;
  let b: TestServer;
  let dirB: string;

  beforeAll(async () => {
    env = await createTestEnv({ SLUICE_AUTH: 'keys', SLUICE_ADMIN_KEY: ADMIN, SLUICE_KAFKA_TOPIC_SYNC_MS: '100' });
    dirB = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-node-b-'));
    a = await startTestServer(env);
    b = await startTestServer(env, { env: { DATA_DIR: dirB } });
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await env?.cleanup();
    await fs.rm(dirB, { recursive: true, force: true });
  });

  it('a token minted on A reads on B (and the reverse); no signing key file is made in either DATA_DIR', async () => {
    const grants = [allOn('topic')];
    for (const [minter, user] of [
      [a, b],
      [b, a],
    ] as const) {
      const { token } = await mintToken(minter.url, ADMIN, grants, 60_000);
      const res = await fetch(`${user.url}/v1/topics`, { headers: bearer(token) });
      expect(res.status).toBe(200);
    }
    for (const dir of [env.dataDir, dirB])
      await expect(fs.stat(path.join(dir, 'token-signing.key'))).rejects.toThrow(/ENOENT/);
  });

  it('SLUICE_TOKEN_SECRET, when set, still decides: a node with another secret refuses the token', async () => {
    const c = await startTestServer(env, { env: { SLUICE_TOKEN_SECRET: 'x'.repeat(40) } });
    try {
      const { token } = await mintToken(a.url, ADMIN, [allOn('topic')], 60_000);
      expect((await fetch(`${c.url}/v1/topics`, { headers: bearer(token) })).status).toBe(401);
    } finally {
      await c.stop();
    }
  });
});
