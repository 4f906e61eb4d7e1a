// The process-wide limits as middleware: connections beyond SLUICE_MAX_CONNECTIONS, streams
// beyond SLUICE_MAX_STREAMS and bodies beyond SLUICE_MAX_BUFFERED_BODY_BYTES get a 503 at once.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Config } from '../../config.js';
import type { AppEnv } from '../app-env.js';
import { ApiError } from '../errors.js';
import { ByteBudget } from './byte-budget.js';
import { ConnectionGate } from './connection-gate.js';
import { SlotCounter } from './slot-counter.js';

/** The live counters, one set per app; the server attaches the connection gate. */
export interface Limits {
  readonly connections: ConnectionGate;
  readonly streams: SlotCounter;
  readonly bodies: ByteBudget;
  /** Counts a refusal in `sluice_limit_refusals_total{limit}`. */
  refused(limit: string): void;
}

/** The counters, published on `registry` as gauges read at scrape time. */
export function createLimits(config: Config, registry: Registry): Limits {
  const limits = {
    connections: new ConnectionGate(config.limits.maxConnections),
    streams: new SlotCounter(config.limits.maxStreams),
    bodies: new ByteBudget(config.limits.maxBufferedBodyBytes),
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
export function connectionCap(limits: Limits): MiddlewareHandler<AppEnv> {
  const max = limits.connections.max;
  return async (c, next) => {
    if (!limits.connections.refuses(nodeBindings(c).incoming?.socket)) return next();
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
 * Whether the request is a stream that holds its connection: an SSE route (GET …/events) or a
 * long-poll (any `wait_ms` > 0).
 */
export function isStreamRequest(c: Context<AppEnv>): boolean {
  if (c.req.method === 'GET') {
    const route = matchedRoutes(c)
      .filter((r) => r.method !== 'ALL')
      .at(-1);
    if (route?.path.endsWith('/events')) return true;
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
  return async (c, next) => {
    if (!isStreamRequest(c)) return next();
    const slot = limits.streams.acquire();
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
  };
}

/** Body bytes, reserved before anything reads the body and given back when the handler is done. */
export function bodyBudget(limits: Limits, config: Config): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const bytes = bodyReservation(c, config.maxBodyBytes);
    if (bytes === 0) return next();
    const release = limits.bodies.reserve(bytes);
    if (!release) {
      limits.refused('max_buffered_body_bytes');
      throw new ApiError(
        'unavailable',
        `too many request bodies are being received at once (SLUICE_MAX_BUFFERED_BODY_BYTES=${limits.bodies.max}); retry shortly`,
        { limit: 'max_buffered_body_bytes', max_bytes: limits.bodies.max },
        { 'retry-after': '1', connection: 'close' },
      );
    }
    try {
      await next();
    } finally {
      release();
    }
  };
}
