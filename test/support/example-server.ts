// A server for the documentation's examples (README walkthrough, generated-client tour): the
// example webhook host is never resolved for real (CI may be offline), plus a temp working dir.
import dns from 'node:dns';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { vi } from 'vitest';
import { startIsolatedServer, type TestServer } from './server.js';

/** The host the examples' webhooks point at: it simply does not exist. */
export const EXAMPLE_HOST = 'hooks.example.com';

export interface ExampleServer {
  server: TestServer;
  /** A fresh temp directory to work in. */
  dir: string;
  /** Stop the server, remove the directory, restore DNS. */
  stop(): Promise<void>;
}

export async function startExampleServer(dirPrefix: string): Promise<ExampleServer> {
  const notFound = () => Object.assign(new Error(`getaddrinfo ENOTFOUND ${EXAMPLE_HOST}`), { code: 'ENOTFOUND' });
  const lookupAsync = dns.promises.lookup.bind(dns.promises);
  vi.spyOn(dns.promises, 'lookup').mockImplementation(((host: string, options: never) =>
    host === EXAMPLE_HOST ? Promise.reject(notFound()) : lookupAsync(host, options)) as typeof dns.promises.lookup);
  const lookup = dns.lookup.bind(dns);
  vi.spyOn(dns, 'lookup').mockImplementation(((host: string, options: never, callback: (e: Error) => void) =>
    host === EXAMPLE_HOST
      ? process.nextTick(() => callback(notFound()))
      : lookup(host, options, callback as never)) as unknown as typeof dns.lookup);
  const server = await startIsolatedServer();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), dirPrefix));
  return {
    server,
    dir,
    stop: async () => {
      vi.restoreAllMocks();
      await server.stop();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
