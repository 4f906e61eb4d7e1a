// The process-wide limits as middleware: connections beyond SLUICE_MAX_CONNECTIONS, streams
// beyond SLUICE_MAX_STREAMS and bodies beyond SLUICE_MAX_BUFFERED_BODY_BYTES get a 503 at once.
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Context, MiddlewareHandler, Next } from 'hono';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Config } from '../../config.js';
import { STREAM_ROUTE_PREFIX } from '../../durable-streams/stream-path.js';
import type { AppEnv } from '../app-env.js';
import { ApiError } from '../errors.js';
import type { Guard } from '../middleware/chain.js';
import { matchedRoute } from '../matched-route.js';
import { countBodyBytes } from './body-meter.js';
import { ByteBudget } from './byte-budget.js';
import { ConnectionGate } from './connection-gate.js';
import { KeyRates } from './rate-bucket.js';
import { SlotCounter } from './slot-counter.js';

/** The live counters, one set per app; the server attaches the connection gate. */
export interface Limits {
  readonly connections: ConnectionGate;
  readonly streams: SlotCounter;
  readonly bodies: ByteBudget;
  /** Per-key byte rates at the SLUICE_KEY_* defaults (0: none) unless a key overrides them, and the default per-key stream cap. */
  readonly produceRates: KeyRates;
  readonly readRates: KeyRates;
  readonly keyMaxStreams: number;
  /** Counts a refusal in `sluice_limit_refusals_total{limit}`. */
  refused(limit: string): void;
}

/** The counters, published on `registry` as gauges read at scrape time. */
export function createLimits(config: Config, registry: Registry): Limits {
  const limits = {
    connections: new ConnectionGate(config.limits.maxConnections),
    streams: new SlotCounter(config.limits.maxStreams),
    bodies: new ByteBudget(
      config.limits.maxBufferedBodyBytes,
      Math.max(config.maxBodyBytes, Math.floor(config.limits.maxBufferedBodyBytes / 4)),
    ),
    produceRates: new KeyRates(config.limits.keyProduceBytesPerSec),
    readRates: new KeyRates(config.limits.keyReadBytesPerSec),
    keyMaxStreams: config.limits.keyMaxStreams,
  };
  const gauge = (name: string, help: string, read: () => number) => {
    registry.removeSingleMetric(name); // one app per registry; a rebuilt app takes over the series
    new Gauge({
      name,
      help,
      registers: [registry],
      collect: function (this: Gauge) {
        this.set(read());
      },
    });
  };
  gauge(
    'sluice_open_connections',
    'Client connections open (cap: SLUICE_MAX_CONNECTIONS).',
    () => limits.connections.size,
  );
  gauge('sluice_open_streams', 'SSE streams and long-polls open (cap: SLUICE_MAX_STREAMS).', () => limits.streams.size);
  gauge(
    'sluice_buffered_body_bytes',
    'Request-body bytes reserved by requests being received (cap: SLUICE_MAX_BUFFERED_BODY_BYTES).',
    () => limits.bodies.reserved,
  );
  registry.removeSingleMetric('sluice_limit_refusals_total');
  const refusals = new Counter({
    name: 'sluice_limit_refusals_total',
    help: 'Requests refused by a limit, by limit (max_connections, max_streams, max_buffered_body_bytes, …).',
    labelNames: ['limit'],
    registers: [registry],
  });
  return { ...limits, refused: (limit) => refusals.inc({ limit }) };
}

interface NodeBindings {
  incoming?: IncomingMessage;
  outgoing?: ServerResponse;
}

const nodeBindings = (c: Context<AppEnv>): NodeBindings => (c.env ?? {}) as NodeBindings;

/** 503 for a request that arrived on a connection accepted beyond SLUICE_MAX_CONNECTIONS. */
export function connectionCap(limits: Limits): Guard {
  const max = limits.connections.max;
  return (c) => {
    if (!limits.connections.refuses(nodeBindings(c).incoming?.socket)) return;
    limits.refused('max_connections');
    throw new ApiError(
      'unavailable',
      `the server has ${max} connections open (SLUICE_MAX_CONNECTIONS); retry shortly`,
      { limit: 'max_connections', max_connections: max },
      { 'retry-after': '1', connection: 'close' },
    );
  };
}

/**
 * Whether the request is a stream that holds its connection: an SSE route (GET …/events), a
 * long-poll (any `wait_ms` > 0), or a Durable Streams live read (GET /v1/stream/…?live=sse|long-poll).
 */
export function isStreamRequest(c: Context<AppEnv>): boolean {
  if (c.req.method === 'GET') {
    if (matchedRoute(c)?.path.endsWith('/events')) return true;
    if (c.req.path.startsWith(STREAM_ROUTE_PREFIX)) {
      const live = c.req.query('live');
      if (live === 'sse' || live === 'long-poll') return true;
    }
  }
  const wait = c.req.query('wait_ms');
  return wait !== undefined && Number(wait) > 0;
}

/** Bytes a request's body may occupy while received: its Content-Length, or the body limit when unknown. */
function bodyReservation(c: Context<AppEnv>, maxBodyBytes: number): number {
  const method = c.req.method;
  if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') return 0;
  if (c.req.header('transfer-encoding') !== undefined) return maxBodyBytes;
  const length = Number(c.req.header('content-length') ?? '0');
  return Number.isFinite(length) && length > 0 ? Math.min(length, maxBodyBytes) : 0;
}

/**
 * A stream's slot, taken before the handler runs and given back when its response closes (end,
 * disconnect or shutdown).
 */
export function streamCaps(limits: Limits): MiddlewareHandler<AppEnv> {
  return (c, next) => (isStreamRequest(c) ? streamSlot(c, next) : next());

  async function streamSlot(c: Context<AppEnv>, next: Next): Promise<void> {
    const owner = quotaOwner(c);
    const override = c.get('principal')?.quotas?.maxStreams;
    const max = override ?? limits.keyMaxStreams;
    const slot = limits.streams.acquire({ id: owner, max });
    if (!slot.ok && slot.cap === 'owner') {
      limits.refused('key_max_streams');
      throw new ApiError(
        'rate_limited',
        `${ownerLabel(owner)} already has ${max} streams open (${override === undefined ? 'SLUICE_KEY_MAX_STREAMS' : 'its quotas.max_streams'}: SSE and long-polls); close one or retry later`,
        { limit: 'key_max_streams', max_streams: max },
        { 'retry-after': '5' },
      );
    }
    if (!slot.ok) {
      limits.refused('max_streams');
      throw new ApiError(
        'unavailable',
        `the server has ${limits.streams.max} streams open (SLUICE_MAX_STREAMS: SSE and long-polls); retry shortly`,
        { limit: 'max_streams', max_streams: limits.streams.max },
        { 'retry-after': '5' },
      );
    }
    const outgoing = nodeBindings(c).outgoing;
    if (outgoing) {
      outgoing.once('close', slot.release);
      return next();
    }
    // Without a Node response (app.request in tests) the slot ends with the handler.
    try {
      await next();
    } finally {
      slot.release();
    }
  }
}

/** Whom quotas are counted against: the key (a token counts as the key that minted it), or `anonymous`. */
function quotaOwner(c: Context<AppEnv>): string {
  return c.get('principal')?.keyId ?? 'anonymous';
}

const ownerLabel = (owner: string) =>
  owner === 'anonymous' ? 'anonymous callers (one principal)' : owner === 'admin' ? 'the admin key' : `key ${owner}`;

/** Operations whose response carries records: charged to the read quota. */
export const READ_OPERATIONS: ReadonlySet<string> = new Set([
  'readRecords',
  'streamPartitionEvents',
  'streamTopicEvents',
  'fetchGroupRecords',
  'streamGroupEvents',
  'receiveFromQueue',
  'streamQueueEvents',
]);

/**
 * Starts counting the body of a POST sent without a declared length (chunked), for the produce
 * quota: before the body limit and auth, which may read the body before the quota's turn.
 */
export function meterChunkedBodies(): Guard {
  return (c) => {
    if (c.req.method !== 'POST' || c.req.header('transfer-encoding') === undefined) return;
    const incoming = nodeBindings(c).incoming;
    if (incoming) c.set('bodyBytes', countBodyBytes(incoming));
  };
}

/**
 * Per-key byte rates, like Kafka's client quotas: a request goes ahead while its key is not in
 * debt and is charged afterwards with the bytes it moved (produce: request bytes received; reads:
 * response bytes sent, for a stream as it runs); a key in debt gets 429 `rate_limited` with
 * Retry-After until the debt is paid off at its rate.
 */
export function keyQuotas(limits: Limits): MiddlewareHandler<AppEnv> {
  const { produceRates, readRates } = limits;
  return (c, next) => {
    const operation = c.get('operationId');
    const produce = operation === 'produceRecords';
    if (!produce && !(operation && READ_OPERATIONS.has(operation))) return next();
    const rates = produce ? produceRates : readRates;
    const overrides = c.get('principal')?.quotas;
    const override = produce ? overrides?.produceBytesPerSec : overrides?.readBytesPerSec;
    const rate = override ?? rates.rate;
    if (rate === 0) return next();
    return metered(c, next, produce, rates, rate, override);
  };

  async function metered(
    c: Context<AppEnv>,
    next: Next,
    produce: boolean,
    rates: KeyRates,
    rate: number,
    override: number | undefined,
  ): Promise<void> {
    const owner = quotaOwner(c);
    const bucket = rates.bucket(owner, rate);
    const waitMs = bucket.waitMs();
    if (waitMs > 0) {
      const limit = produce ? 'key_produce_bytes_per_sec' : 'key_read_bytes_per_sec';
      const source =
        override === undefined
          ? `SLUICE_KEY_${produce ? 'PRODUCE' : 'READ'}_BYTES_PER_SEC`
          : `its quotas.${produce ? 'produce' : 'read'}_bytes_per_sec`;
      limits.refused(limit);
      throw new ApiError(
        'rate_limited',
        `${ownerLabel(owner)} is over its ${produce ? 'produce' : 'read'} quota of ${rate} bytes/s ` +
          `(${source}); retry in ${Math.ceil(waitMs / 1000)} s`,
        { limit, bytes_per_sec: rate, retry_after_ms: waitMs },
        { 'retry-after': String(Math.max(1, Math.ceil(waitMs / 1000))) },
      );
    }
    const { outgoing } = nodeBindings(c);
    if (produce) {
      // The declared length; for a chunked body, its bytes as received (meterChunkedBodies).
      const declared = Number(c.req.header('content-length') ?? NaN);
      const bodyBytes = c.get('bodyBytes');
      try {
        await next();
      } finally {
        bucket.charge(Number.isFinite(declared) || !bodyBytes ? declared || 0 : bodyBytes());
      }
      return;
    }
    if (!outgoing) return next();
    // Response bytes as they go out: a long stream is charged every second, not only at its end.
    const meter = (socket: Socket) => {
      let counted = socket.bytesWritten;
      let done = false;
      const settle = () => {
        if (done) return;
        const now = socket.bytesWritten;
        bucket.charge(now - counted);
        counted = now;
      };
      const timer = setInterval(settle, 1000);
      timer.unref();
      // Its last byte is on the socket at 'prefinish': settled then, before Node hands the socket
      // to a response pipelined behind it (whose bytes are its own); at 'close' if it never ended.
      const last = () => {
        clearInterval(timer);
        settle();
        done = true;
      };
      outgoing.once('prefinish', last);
      outgoing.once('close', last);
    };
    if (outgoing.socket) meter(outgoing.socket);
    // Pipelined behind a response still being written: it sends once Node hands it the socket.
    else outgoing.once('socket', meter);
    return next();
  }
}

/**
 * Who a body's bytes are charged to, from the Authorization header as sent. This runs before
 * authentication (which reads a few bodies to name their resource), so the credential is not yet
 * verified; a false one is refused (401) before its body is read, so it holds bytes only for that
 * moment. A key's browser tokens share one owner (their `k` claim, the key's id); a key or the
 * admin key is its own owner, by digest. No credential: no share, only the total (anonymous
 * callers exist only where nothing is protected: SLUICE_AUTH=none, or before the first key).
 */
export function bodyOwner(authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined;
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
  if (!m) return undefined; // refused by authentication before any body is read
  const credential = m[1]!;
  const parts = credential.split('.');
  if (parts.length === 3) {
    try {
      const claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as { k?: unknown };
      if (typeof claims.k === 'string') return `key:${claims.k}`;
      if (claims.k === null) return undefined;
    } catch {
      // Not a token: charged as a secret of its own below.
    }
  }
  return `secret:${createHash('sha256').update(credential).digest('base64url').slice(0, 22)}`;
}

/** Body bytes, reserved before anything reads the body and given back when the handler is done. */
export function bodyBudget(limits: Limits, config: Config): MiddlewareHandler<AppEnv> {
  return (c, next) => {
    const bytes = bodyReservation(c, config.maxBodyBytes);
    return bytes === 0 ? next() : reserved(next, bytes, bodyOwner(c.req.header('authorization')));
  };

  function reserved(next: Next, bytes: number, owner: string | undefined): Promise<void> {
    const reservation = limits.bodies.reserve(bytes, owner);
    if (!reservation.ok && reservation.cap === 'owner') {
      limits.refused('key_max_buffered_body_bytes');
      throw new ApiError(
        'rate_limited',
        `this credential already has ${limits.bodies.ownerMax} bytes of request bodies being received ` +
          '(a quarter of SLUICE_MAX_BUFFERED_BODY_BYTES, at least SLUICE_MAX_BODY_BYTES); finish or close one, or retry shortly',
        { limit: 'key_max_buffered_body_bytes', max_bytes: limits.bodies.ownerMax },
        { 'retry-after': '1', connection: 'close' },
      );
    }
    if (!reservation.ok) {
      limits.refused('max_buffered_body_bytes');
      throw new ApiError(
        'unavailable',
        `too many request bodies are being received at once (SLUICE_MAX_BUFFERED_BODY_BYTES=${limits.bodies.max}); retry shortly`,
        { limit: 'max_buffered_body_bytes', max_bytes: limits.bodies.max },
        { 'retry-after': '1', connection: 'close' },
      );
    }
    const { release } = reservation;
    let done: Promise<void>;
    try {
      done = next();
    } catch (e) {
      release();
      throw e;
    }
    return done.finally(release);
  }
}
