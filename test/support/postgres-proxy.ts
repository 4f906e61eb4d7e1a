// A test server whose Postgres connection goes through a TCP proxy the test can cut, for the
// "Postgres goes down" tests (DATABASE_URL only).
import { startTestServer, type TestEnv, type TestServer } from './server.js';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';

export interface ServerBehindProxy {
  proxy: TcpProxy;
  server: TestServer;
  /** Restore the proxy, stop the server, close the proxy. */
  stop(): Promise<void>;
}

/** Starts a proxy to env's DATABASE_URL and a server that reaches Postgres only through it. */
export async function startServerBehindPostgresProxy(env: TestEnv): Promise<ServerBehindProxy> {
  const url = new URL(env.env['DATABASE_URL']!);
  const proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
  url.hostname = '127.0.0.1';
  url.port = String(proxy.port);
  const server = await startTestServer(env, {
    env: { DATABASE_URL: url.toString(), SLUICE_DB_CONNECT_TIMEOUT_MS: '1000' },
  });
  return {
    proxy,
    server,
    stop: async () => {
      await proxy.restore();
      await server.stop();
      await proxy.close();
    },
  };
}
