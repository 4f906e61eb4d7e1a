// Runs the app on a Node HTTP server and shuts it down gracefully (DESIGN §6): stop
// accepting, end streams, let in-flight requests finish, close services.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import { createApp } from '../app.js';
import type { Services } from '../services.js';

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  /** Graceful stop; idempotent. Resolves once services are closed. */
  close(): Promise<void>;
}

export async function startServer(services: Services, listen: { host: string; port: number }): Promise<RunningServer> {
  const { app, inflight, limits } = createApp(services);
  const { headersTimeoutMs, requestTimeoutMs, keepAliveTimeoutMs } = services.config.limits;
  const server = await new Promise<Server>((resolve, reject) => {
    const s = serve(
      {
        fetch: app.fetch,
        hostname: listen.host,
        port: listen.port,
        // Node's request timeouts cover receiving the request (headers, then body) only: a
        // long-poll or SSE response can run for as long as it likes once the request is in.
        serverOptions: {
          headersTimeout: headersTimeoutMs,
          requestTimeout: requestTimeoutMs,
          keepAliveTimeout: keepAliveTimeoutMs,
          connectionsCheckingInterval: Math.min(30_000, Math.max(50, Math.floor(headersTimeoutMs / 4))),
        },
      },
      () => resolve(s as Server),
    );
    limits.connections.attach(s as Server);
    (s as Server).once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  const logger = services.logger;
  logger.info({ host: listen.host, port }, 'listening');

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      const deadline = services.config.shutdownTimeoutMs;
      const started = Date.now();
      logger.info({ open_streams: services.streams.size, inflight: inflight.size }, 'shutting down');
      const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const stillOpen = await services.streams.drain(deadline);
      if (stillOpen.length > 0) logger.warn({ streams: stillOpen }, 'streams still open at shutdown deadline');
      const left = Math.max(0, deadline - (Date.now() - started));
      const idle = await Promise.race([inflight.idle().then(() => true), sleep(left).then(() => false)]);
      if (!idle) logger.warn({ inflight: inflight.size }, 'requests still in flight at shutdown deadline');
      server.closeAllConnections();
      await serverClosed;
      await services.close();
      logger.info({ duration_ms: Date.now() - started }, 'shut down');
    })());

  return { url: `http://${host}:${port}`, port, close };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
