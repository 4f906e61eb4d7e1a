// Runs the app on a Node HTTP server and shuts it down gracefully (DESIGN §6): stop
// accepting, end streams, answer every request already accepted in full, then close.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import { getRequestListener, RequestError, serve } from '@hono/node-server';
import { createApp } from '../app.js';
import type { Services } from '../services.js';
import { answerClientErrors, lingerOnUnreadBody } from './client-error.js';
import { ListenError } from './port-check.js';

export { ListenError };

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  /** Graceful stop; idempotent. Resolves once services are closed. */
  close(): Promise<void>;
}

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * Tracks the responses being written per socket so shutdown can wait until each accepted
 * request's answer is flushed, then end its connection. A request that arrives on a
 * connection shutdown has already decided to end is never handed to the app (the socket is
 * reset, so the client knows it was not processed).
 */
class ConnectionTracker {
  private readonly busy = new Map<Socket, Set<ServerResponse>>();
  private readonly ending = new WeakSet<Socket>();
  private closing = false;
  private waiters: Array<() => void> = [];

  get responses(): number {
    let n = 0;
    for (const set of this.busy.values()) n += set.size;
    return n;
  }

  wrap(listener: Listener): Listener {
    return (req, res) => {
      const socket = req.socket;
      if (this.ending.has(socket)) {
        socket.destroy();
        return;
      }
      lingerOnUnreadBody(req);
      let set = this.busy.get(socket);
      if (!set) this.busy.set(socket, (set = new Set()));
      set.add(res);
      if (this.closing) res.setHeader('connection', 'close');
      res.once('close', () => this.done(socket, res));
      if (!res.socket) closeWithConnection(res, socket);
      listener(req, res);
    };
  }

  private done(socket: Socket, res: ServerResponse): void {
    const set = this.busy.get(socket);
    set?.delete(res);
    if (set && set.size === 0) {
      this.busy.delete(socket);
      if (this.closing) this.end(socket);
    }
    if (this.busy.size === 0) for (const w of this.waiters.splice(0)) w();
  }

  private end(socket: Socket): void {
    this.ending.add(socket);
    socket.end(); // flushes what the response wrote, then FIN
  }

  /** From now on every response says `Connection: close` and connections end once answered. */
  startClosing(): void {
    this.closing = true;
    for (const set of this.busy.values()) {
      for (const res of set) if (!res.headersSent) res.setHeader('connection', 'close');
    }
  }

  /** Resolves when no response is being written (or at once). */
  idle(): Promise<void> {
    return this.busy.size === 0 ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }
}

/**
 * A response pipelined behind one still being written gets its socket when that one finishes;
 * if the connection closes first, Node never emits 'close' on it. Everything that lets go of a
 * request on its response's 'close' (stream slots, SSE streams, long-polls, quota meters, the
 * tracker above) would hold on forever, so the response is told here.
 */
function closeWithConnection(res: ServerResponse, socket: Socket): void {
  const gone = (): void => {
    if (!res.socket) res.emit('close');
  };
  socket.once('close', gone);
  res.once('socket', () => socket.off('close', gone));
}

/**
 * `Expect: 100-continue`: Node would answer 100 at once, before any check. Here it goes out when
 * the app starts reading the body, so a request refused before that (401, 403, 404, 413, 415…)
 * is answered without inviting a body the server would only discard (RFC 9110 §10.1.1).
 */
function continueOnRead(req: IncomingMessage, res: ServerResponse): void {
  const onListener = (event: string | symbol): void => {
    if (event !== 'data' && event !== 'readable') return;
    req.off('newListener', onListener);
    // After a final answer (the host drains what the client sends anyway), a 100 would be sent
    // after it: never.
    if (!res.headersSent && !res.writableEnded) res.writeContinue();
  };
  req.on('newListener', onListener);
}

/** A request the adapter could not build (its Host or target no URL can hold), or a failure before the app answered. */
function unbuildableRequest(e: unknown): Response {
  const requestId = randomUUID();
  const known = e instanceof RequestError;
  const body = {
    error: {
      code: known ? 'bad_request' : 'internal',
      message: known
        ? `the request cannot be served: ${e.message} (the Host header and request target must form a URL)`
        : 'internal error before the request reached the API',
      request_id: requestId,
    },
  };
  return new Response(JSON.stringify(body), {
    status: known ? 400 : 500,
    headers: { 'content-type': 'application/json', 'x-request-id': requestId, connection: 'close' },
  });
}

export async function startServer(services: Services, listen: { host: string; port: number }): Promise<RunningServer> {
  const { app, inflight, limits } = createApp(services);
  const { headersTimeoutMs, requestTimeoutMs, keepAliveTimeoutMs } = services.config.limits;
  const connections = new ConnectionTracker();
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
        // 32 KiB of request line and headers (Node's default is 16): a group cursor may be 16 KiB.
        // The adapter's own listener, with an error handler: a request it cannot turn into a
        // URL (a Host header such as `a b`) gets the API's error shape, not an empty 400.
        createServer: ((options: object) => {
          const handle = connections.wrap(
            getRequestListener(app.fetch, { hostname: listen.host, errorHandler: unbuildableRequest }),
          );
          const created = createServer({ ...options, maxHeaderSize: 32 * 1024 }, handle);
          created.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
            continueOnRead(req, res);
            handle(req, res);
          });
          return created;
        }) as unknown as typeof createServer,
      },
      () => resolve(s as Server),
    );
    // Refused before any route runs (431, 408, malformed): counted and logged like the app's own refusals.
    answerClientErrors(s as Server, (r) => {
      if (r.limit) limits.refused(r.limit);
      services.logger.info(
        {
          request_id: r.requestId,
          status: r.status,
          code: r.code,
          ...(r.limit && { limit: r.limit }),
          remote_address: r.remoteAddress,
        },
        'request refused before routing',
      );
    });
    limits.connections.attach(s as Server);
    (s as Server).once('error', (e: NodeJS.ErrnoException) => reject(ListenError.from(e, listen)));
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
      const left = () => Math.max(0, deadline - (Date.now() - started));
      logger.info(
        { open_streams: services.streams.size, inflight: inflight.size, responses: connections.responses },
        'shutting down',
      );
      connections.startClosing();
      const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const stillOpen = await services.streams.drain(deadline);
      if (stillOpen.length > 0) logger.warn({ streams: stillOpen }, 'streams still open at shutdown deadline');
      const answered = await within(
        Promise.all([inflight.idle(), connections.idle()]).then(() => undefined),
        left(),
      );
      if (!answered) {
        logger.warn(
          { inflight: inflight.size, responses: connections.responses },
          'requests still in flight at shutdown deadline',
        );
      }
      // Every answered connection was ended after its response; give clients a moment to close
      // their side, then cut whatever is left.
      if (!(await within(serverClosed, Math.min(left(), 1_000)))) server.closeAllConnections();
      await serverClosed;
      await services.close(Math.max(left(), 1_000));
      logger.info({ duration_ms: Date.now() - started }, 'shut down');
    })());

  return { url: `http://${host}:${port}`, port, close };
}

/** Resolves true if `p` settles within `ms`, false otherwise. */
async function within(p: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
    timer.unref();
  });
  try {
    return await Promise.race([p.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
