// Starts a real Sluice server in-process (createServices + createApp on 127.0.0.1:0) with a
// temp DATA_DIR and a fresh database; restartable on the same data for recovery tests.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../../src/config.js';
import { startServer, type RunningServer } from '../../src/http/server.js';
import { createServices, type ServiceOverrides, type Services } from '../../src/services.js';
import { createClient, type Client } from './client.js';
import { createTestDatabase, type TestDatabase } from './database.js';

/** Where a test's data lives (temp DATA_DIR + database); outlives server restarts. */
export interface TestEnv {
  readonly dataDir: string;
  readonly database: TestDatabase;
  /** Environment given to loadConfig (DATA_DIR, DATABASE_URL, quiet logs, plus extras). */
  readonly env: Record<string, string>;
  cleanup(): Promise<void>;
}

export interface TestServer {
  readonly url: string;
  readonly client: Client;
  readonly services: Services;
  readonly config: Config;
  /** Graceful shutdown, as on SIGTERM. */
  stop(): Promise<void>;
}

/**
 * The Kafka entry of the test matrix: with SLUICE_TEST_KAFKA_BROKERS set (`npm run test:kafka`),
 * every test server keeps its log on that cluster, under a topic prefix of its own.
 */
/** Whether test servers keep their log on Kafka (where brokers, not Sluice, roll and retain segments). */
export const usingKafka = (): boolean => Boolean(process.env['SLUICE_TEST_KAFKA_BROKERS']);

function kafkaTestEnv(): Record<string, string> {
  const brokers = process.env['SLUICE_TEST_KAFKA_BROKERS'];
  if (!brokers) return {};
  return {
    SLUICE_LOG_STORE: 'kafka',
    SLUICE_KAFKA_BROKERS: brokers,
    SLUICE_KAFKA_TOPIC_PREFIX: `sluice-test-${randomBytes(4).toString('hex')}.`,
  };
}

export async function createTestEnv(extraEnv: Record<string, string> = {}): Promise<TestEnv> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-test-'));
  const database = await createTestDatabase();
  const env: Record<string, string> = {
    HOST: '127.0.0.1',
    PORT: '0',
    DATA_DIR: dataDir,
    SLUICE_LOG_LEVEL: process.env['SLUICE_TEST_LOG_LEVEL'] ?? 'silent',
    SLUICE_SHUTDOWN_TIMEOUT_MS: '2000',
    ...(database.url ? { DATABASE_URL: database.url } : {}),
    ...kafkaTestEnv(),
    ...extraEnv,
  };
  return {
    dataDir,
    database,
    env,
    cleanup: async () => {
      await database.drop();
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}

export async function startTestServer(
  testEnv: TestEnv,
  options: { env?: Record<string, string>; overrides?: ServiceOverrides } = {},
): Promise<TestServer> {
  const config = loadConfig({ ...testEnv.env, ...options.env });
  const services = await createServices(config, options.overrides);
  let running: RunningServer;
  try {
    running = await startServer(services, { host: config.host, port: config.port });
  } catch (e) {
    await services.close();
    throw e;
  }
  return { url: running.url, client: createClient(running.url), services, config, stop: () => running.close() };
}

/** A server on its own fresh env; `stop` also removes the env. For tests without restarts. */
export async function startIsolatedServer(extraEnv: Record<string, string> = {}): Promise<TestServer> {
  const testEnv = await createTestEnv(extraEnv);
  try {
    const server = await startTestServer(testEnv);
    return {
      ...server,
      stop: async () => {
        try {
          await server.stop();
        } finally {
          await testEnv.cleanup();
        }
      },
    };
  } catch (e) {
    await testEnv.cleanup();
    throw e;
  }
}
