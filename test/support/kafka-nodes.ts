// Two Sluice nodes sharing one Kafka cluster and one Postgres, for the multi-node suites: whether
// this run can have them, the nodes started before a suite and stopped after it, and JSON calls.
import { afterAll, beforeAll } from 'vitest';
import { kafkaClientSupported } from '../../src/log/kafka/kafka-driver.js';
import { usingPostgres } from './database.js';
import { createTestEnv, startTestServer, usingKafka, type TestEnv, type TestServer } from './server.js';

/** Nodes share a Kafka cluster (SLUICE_TEST_KAFKA_BROKERS, a Node.js its client runs on) and a Postgres server. */
export const twoNodesPossible = (): boolean => usingKafka() && kafkaClientSupported() && usingPostgres();

/** Nodes A and B on one environment; a test may replace a node (a restart) and it is still stopped after. */
export interface TwoNodes {
  a: TestServer;
  b: TestServer;
  readonly env: TestEnv;
}

/** Start A and B on a fresh environment with `env` before the suite's tests; stop both and clean up after. */
export function twoNodes(env: Record<string, string>): TwoNodes {
  const nodes = {} as { a: TestServer; b: TestServer; env: TestEnv };
  beforeAll(async () => {
    nodes.env = await createTestEnv(env);
    nodes.a = await startTestServer(nodes.env);
    nodes.b = await startTestServer(nodes.env);
  });
  afterAll(async () => {
    await nodes.a?.stop();
    await nodes.b?.stop();
    await nodes.env?.cleanup();
  });
  return nodes;
}

export interface Answer {
  status: number;
  body: Record<string, unknown> | null;
}

/** A JSON request to `node`: the status, and the body parsed (null when it is not JSON). */
export async function call(
  node: TestServer,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const res = await fetch(`${node.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json().catch(() => null)) as Record<string, unknown> | null };
}

/** Poll `check` every 50 ms until it holds; throws naming `what` after `timeoutMs`. */
export async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
