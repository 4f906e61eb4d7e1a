// Process configuration: one zod schema over the environment, parsed once at start-up.
// A bad value stops the process with a message naming the variable and what it accepts.
import path from 'node:path';
import { z } from 'zod';

/** The largest `wait_ms` the API accepts (declared in the OpenAPI document). */
export const LONG_POLL_LIMIT_MS = 30_000;

const int = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^-?\d+$/, `an integer between ${min} and ${max}`)
    .transform(Number)
    .pipe(z.number().int().min(min, `an integer ≥ ${min}`).max(max, `an integer ≤ ${max}`));

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const MiB = 1024 * 1024;

/**
 * Every setting Sluice reads from the environment, with its default. Units are in the
 * names. Add new settings here (and to the README settings table), never read
 * `process.env` anywhere else.
 */
export const envSchema = z.object({
  HOST: z.string().trim().min(1, 'a host name or IP address').default('127.0.0.1'),
  PORT: int(0, 65535).default(8080),
  DATA_DIR: z.string().trim().min(1, 'a directory path').default('./data'),
  DATABASE_URL: z
    .string()
    .trim()
    .regex(/^postgres(ql)?:\/\//, 'a postgres:// or postgresql:// connection URL')
    .optional(),
  SLUICE_LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      error: 'one of fatal, error, warn, info, debug, trace, silent',
    })
    .default('info'),
  /** Largest request body accepted by any endpoint (413 above it). */
  SLUICE_MAX_BODY_BYTES: int(1024, 1024 * MiB).default(16 * MiB),
  /** Most records one produce request may carry (413 above it; ≤ 29,856 so idempotency tags fit 4 KiB). */
  SLUICE_MAX_RECORDS_PER_REQUEST: int(1, 29_856).default(10_000),
  /** Deepest array/object nesting a produced json value may have (422 above it). */
  SLUICE_MAX_JSON_DEPTH: int(1, 1000).default(128),
  /** How long Idempotency-Key and Producer-Seq state answers retries, across restarts too (ms). */
  SLUICE_IDEMPOTENCY_WINDOW_MS: int(1000, 7 * 24 * 3_600_000).default(3_600_000),
  /**
   * How far ahead of the server clock a record timestamp may be (422 beyond; Kafka's
   * message.timestamp.after.max.ms). Retention and idempotency run on append time regardless.
   */
  SLUICE_TIMESTAMP_AFTER_MAX_MS: int(0, Number.MAX_SAFE_INTEGER).default(3_600_000),
  /** How far behind the server clock a record timestamp may be (422 beyond); -1 = no limit. */
  SLUICE_TIMESTAMP_BEFORE_MAX_MS: int(-1, Number.MAX_SAFE_INTEGER).default(-1),
  /** Most Idempotency-Keys + producer ids remembered at once; past it the least recently used are forgotten. */
  SLUICE_IDEMPOTENCY_MAX_ENTRIES: int(100, 100_000_000).default(100_000),
  /** Estimated memory the idempotency state may hold; past it the least recently used are forgotten. */
  SLUICE_IDEMPOTENCY_MAX_BYTES: int(64 * 1024, 64 * 1024 * MiB).default(64 * MiB),
  /** Most partitions one topic may have. */
  SLUICE_MAX_PARTITIONS: int(1, 100_000).default(1024),
  /** Consumer groups: joins within this window share one rebalance (one generation bump). */
  SLUICE_GROUP_REBALANCE_DELAY_MS: int(0, 60_000).default(100),
  /** Consumer groups: how often expired sessions and due rebalances are swept. */
  SLUICE_GROUP_SWEEP_INTERVAL_MS: int(50, 600_000).default(1_000),
  /** Upper bound for `wait_ms` on long-polls; can only lower the API's declared maximum. */
  SLUICE_LONG_POLL_MAX_MS: int(0, LONG_POLL_LIMIT_MS).default(30_000),
  /** Interval of `: keepalive` comments on SSE streams. */
  SLUICE_SSE_KEEPALIVE_MS: int(100, 300_000).default(15_000),
  /** Durable Streams (/v1/stream): how long a `live=long-poll` read waits before 204. */
  SLUICE_STREAM_LONG_POLL_MS: int(100, LONG_POLL_LIMIT_MS).default(20_000),
  /** Durable Streams: an SSE read ends after this long (the client reconnects), so proxies can collapse readers. */
  SLUICE_STREAM_SSE_MAX_MS: int(1000, 3_600_000).default(60_000),
  /** Durable Streams: how often expired streams (Stream-TTL / Stream-Expires-At) are deleted. */
  SLUICE_STREAM_SWEEP_MS: int(100, 3_600_000).default(10_000),
  /** Reconnect delay SSE clients are told with `retry:`. */
  SLUICE_SSE_RETRY_MS: int(0, 600_000).default(2_000),
  /** Bytes an SSE client may have queued before it leaves the live fan-out and catches up from the log. */
  SLUICE_SSE_MAX_BUFFERED_BYTES: int(16 * 1024, 256 * MiB).default(1 * MiB),
  /**
   * Comma-separated origins (`https://app.example`) whose pages may call the API; `*` allows any.
   * Empty (default): no cross-origin callers, and state-changing requests from other origins get 403.
   */
  SLUICE_CORS_ORIGINS: z.string().trim().default(''),
  /**
   * `auto`: open to loopback peers while no API key exists (like Redis' protected mode), then keys
   * required; `keys`: credentials always required; `none`: open to everyone (trusted networks only).
   */
  SLUICE_AUTH: z.enum(['auto', 'keys', 'none'], { error: 'auto, keys or none' }).default('auto'),
  /** An admin API key taken from the environment (no database write); at least 32 characters. */
  SLUICE_ADMIN_KEY: z.string().trim().min(32, 'a secret of at least 32 characters').optional(),
  /** Browser-token signing secret (≥ 32 characters); default: DATA_DIR/token-signing.key, created with mode 0600. */
  SLUICE_TOKEN_SECRET: z.string().trim().min(32, 'a secret of at least 32 characters').optional(),
  /** Serve /metrics without credentials (default: it needs cluster:describe). */
  SLUICE_METRICS_PUBLIC: bool.default(false),
  /** Serve /docs and /openapi.json without credentials (default: they need cluster:describe). */
  SLUICE_DOCS_PUBLIC: bool.default(false),
  /** How long shutdown waits for streams and in-flight requests before closing anyway. */
  SLUICE_SHUTDOWN_TIMEOUT_MS: int(0, 600_000).default(10_000),
  /** Connections in the Postgres pool (DATABASE_URL only). */
  SLUICE_DB_POOL_MAX: int(1, 1000).default(10),
  /** Give up connecting to Postgres after this long (the request answers 503). */
  SLUICE_DB_CONNECT_TIMEOUT_MS: int(100, 600_000).default(5_000),
  /**
   * Segment files the log keeps open at once, across all partitions: idle ones past it are
   * closed and reopened on demand, so descriptors do not grow with the partition count.
   */
  SLUICE_MAX_OPEN_FILES: int(16, 1_000_000).default(1024),
  /**
   * Read rate of the background scrub that, after each start, CRC-checks every log segment
   * below the recovery point (a restart after a crash scans only what came after the last
   * flush); corruption found quarantines the partition. 0 turns the scrub off.
   */
  SLUICE_LOG_SCRUB_BYTES_PER_SEC: int(0, 100 * 1024 * 1024 * 1024).default(64 * 1024 * 1024),
  /**
   * The log flushes (fsync, index files, recovery checkpoint) every 10 s, and early once this
   * many bytes were appended since the last flush: what a start after a crash must scan. 0: time only.
   */
  SLUICE_LOG_FLUSH_BYTES: int(0, 1024 * 1024 * 1024 * 1024).default(1024 * 1024 * 1024),
  /**
   * Where the log lives: `file` (segment files in DATA_DIR), `kafka` (an Apache Kafka cluster,
   * SLUICE_KAFKA_*; Node.js 22.22+/24 only), `memory` (tests and experiments only).
   */
  SLUICE_LOG_STORE: z.enum(['file', 'memory', 'kafka'], { error: 'file, memory or kafka' }).default('file'),
  /** Kafka bootstrap servers, comma-separated host:port (required when SLUICE_LOG_STORE=kafka). */
  SLUICE_KAFKA_BROKERS: z
    .string()
    .trim()
    .regex(/^$|^[^,\s:]+:\d+(,[^,\s:]+:\d+)*$/, 'a comma-separated list of host:port')
    .default(''),
  /** Client id Sluice gives Kafka (quotas, logs). */
  SLUICE_KAFKA_CLIENT_ID: z.string().trim().min(1, 'a client id').default('sluice'),
  /** Kafka topic name = this prefix + the Sluice topic's id. */
  SLUICE_KAFKA_TOPIC_PREFIX: z
    .string()
    .trim()
    .regex(/^[a-zA-Z0-9._-]{0,200}$/, 'letters, digits, . _ -')
    .default('sluice.'),
  /** Replication factor of topics Sluice creates; -1 = the cluster's default.replication.factor. */
  SLUICE_KAFKA_REPLICATION_FACTOR: int(-1, 32).default(-1),
  /** Kafka mode: how often a node adopts topics other nodes created, grew, changed or deleted. */
  SLUICE_KAFKA_TOPIC_SYNC_MS: int(50, 600_000).default(1_000),
  /** Kafka mode: how often group offsets are copied to Kafka consumer groups (one node, under a lease); 0 = never. */
  SLUICE_KAFKA_GROUP_OFFSETS_MS: int(0, 3_600_000).default(5_000),
  /** Connect to Kafka over TLS (system CAs unless SLUICE_KAFKA_TLS_CA_FILE). */
  SLUICE_KAFKA_TLS: bool.default(false),
  /** PEM files for TLS to Kafka: CA bundle, and a client certificate + key for mutual TLS. */
  SLUICE_KAFKA_TLS_CA_FILE: z.string().trim().min(1, 'a file path').optional(),
  SLUICE_KAFKA_TLS_CERT_FILE: z.string().trim().min(1, 'a file path').optional(),
  SLUICE_KAFKA_TLS_KEY_FILE: z.string().trim().min(1, 'a file path').optional(),
  /** SASL authentication to Kafka (with SLUICE_KAFKA_SASL_USERNAME and _PASSWORD). */
  SLUICE_KAFKA_SASL_MECHANISM: z
    .enum(['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'], { error: 'PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512' })
    .optional(),
  SLUICE_KAFKA_SASL_USERNAME: z.string().optional(),
  SLUICE_KAFKA_SASL_PASSWORD: z.string().optional(),
  /** Keep the embedded database in memory instead of DATA_DIR/meta (tests only). */
  SLUICE_PGLITE_IN_MEMORY: bool.default(false),
  /**
   * Let webhooks target loopback, private and other not-globally-reachable addresses
   * (127.0.0.0/8, 10/8, 172.16/12, 192.168/16, 100.64/10, 192.0.0.0/24, test nets, ::1,
   * fc00::/7, 2001:db8::/32, …; see webhooks/url-policy.ts). Off by default; link-local,
   * multicast, 240/4 and cloud-metadata addresses are refused regardless.
   */
  SLUICE_WEBHOOK_ALLOW_PRIVATE: bool.default(false),
  /**
   * Comma-separated allowlist of webhook hosts (`hooks.example.com`, `*.example.com`) and
   * CIDRs (`10.1.0.0/16`); when set, every webhook URL must match one. Listed CIDRs may be private.
   */
  SLUICE_WEBHOOK_ALLOW_HOSTS: z.string().trim().default(''),
  /** Most webhook HTTP requests in flight at once, across all webhooks and partitions. */
  SLUICE_WEBHOOK_MAX_CONCURRENCY: int(1, 10_000).default(64),
  /** Delivery attempts kept per webhook for GET /v1/webhooks/{id}/deliveries. */
  SLUICE_WEBHOOK_DELIVERIES_KEPT: int(1, 10_000).default(100),
  /**
   * How long a node's lease on a webhook lasts without renewal (renewed every third of it):
   * with several nodes, a dead node's webhooks resume on another within this time.
   */
  SLUICE_LEASE_MS: int(300, 600_000).default(15_000),
  /** Queues: most records one queue partition may have between its start and its newest leased record. */
  SLUICE_QUEUE_MAX_WINDOW: int(10, 1_000_000).default(5_000),
  /** Queues: how often expired leases are returned and pending dead letters appended. */
  SLUICE_QUEUE_SWEEP_INTERVAL_MS: int(10, 60_000).default(250),
  // Limits (README "Limits"): process-wide caps and client timeouts.
  /** Open client connections; beyond it a request is answered 503 and its connection closed. */
  SLUICE_MAX_CONNECTIONS: int(1, 1_000_000).default(20_000),
  /** Open streams (SSE responses, long-polls with wait_ms > 0, Durable Streams live reads) across all clients (503 beyond). */
  SLUICE_MAX_STREAMS: int(1, 1_000_000).default(15_000),
  /** Bytes of request bodies being received at once (a body without Content-Length counts as SLUICE_MAX_BODY_BYTES). */
  SLUICE_MAX_BUFFERED_BODY_BYTES: int(1024, 64 * 1024 * MiB).default(256 * MiB),
  /** A client must send the request line and headers within this long (408 and closed). */
  SLUICE_HEADERS_TIMEOUT_MS: int(100, 600_000).default(10_000),
  /** A client must send the whole request, body included, within this long (408 and closed); responses are not limited. */
  SLUICE_REQUEST_TIMEOUT_MS: int(100, 3_600_000).default(60_000),
  /** An idle keep-alive connection is closed after this long. */
  SLUICE_KEEP_ALIVE_TIMEOUT_MS: int(100, 600_000).default(5_000),
  /**
   * Comma-separated extra names (`sluice.internal`, `*.example.com`) accepted in the Host header.
   * While HOST is a loopback address, or when this is set, other Host names get 403 (DNS rebinding);
   * `*` turns the check off.
   */
  SLUICE_ALLOWED_HOSTS: z.string().trim().default(''),
  /** Per key (a token counts as its key; anonymous callers as one): produce bytes/s; 0 = no quota. */
  SLUICE_KEY_PRODUCE_BYTES_PER_SEC: int(0, 1_000_000_000_000).default(0),
  /** Per key: bytes/s of records read (reads, long-polls, SSE, group fetches, queue receives); 0 = no quota. */
  SLUICE_KEY_READ_BYTES_PER_SEC: int(0, 1_000_000_000_000).default(0),
  /** Per key: open streams (SSE and long-polls) at once (429 beyond). */
  SLUICE_KEY_MAX_STREAMS: int(1, 1_000_000).default(1_000),
  /** How often the overview stream (GET /v1/overview/events, the dashboard at /ui) sends a snapshot. */
  SLUICE_OVERVIEW_INTERVAL_MS: int(100, 600_000).default(1_000),
});

export type Env = z.input<typeof envSchema>;

export interface Config {
  host: string;
  port: number;
  /** Absolute path of the data directory. */
  dataDir: string;
  /** Where metadata lives: an external Postgres, or embedded PGlite (on disk or in memory). */
  database: { kind: 'postgres'; url: string } | { kind: 'pglite'; dataDir: string | null };
  logLevel: z.output<typeof envSchema>['SLUICE_LOG_LEVEL'];
  maxBodyBytes: number;
  maxRecordsPerRequest: number;
  maxJsonDepth: number;
  idempotencyWindowMs: number;
  idempotencyMaxEntries: number;
  timestampAfterMaxMs: number;
  timestampBeforeMaxMs: number;
  idempotencyMaxBytes: number;
  maxPartitions: number;
  groupRebalanceDelayMs: number;
  groupSweepIntervalMs: number;
  longPollMaxMs: number;
  sseKeepaliveMs: number;
  streamLongPollMs: number;
  streamSseMaxMs: number;
  streamSweepMs: number;
  sseRetryMs: number;
  sseMaxBufferedBytes: number;
  /** Empty: no cross-origin callers; `['*']`: any origin. */
  corsOrigins: string[];
  auth: {
    mode: 'auto' | 'keys' | 'none';
    /** SLUICE_ADMIN_KEY, if set. */
    adminKey: string | null;
    /** SLUICE_TOKEN_SECRET, if set (else a key file in DATA_DIR). */
    tokenSecret: string | null;
    metricsPublic: boolean;
    docsPublic: boolean;
  };
  shutdownTimeoutMs: number;
  dbPoolMax: number;
  dbConnectTimeoutMs: number;
  logStore: 'file' | 'memory' | 'kafka';
  /** SLUICE_KAFKA_* settings; brokers is non-empty when logStore is `kafka`. */
  kafka: {
    brokers: string[];
    clientId: string;
    topicPrefix: string;
    replicationFactor: number;
    topicSyncMs: number;
    /** SLUICE_KAFKA_GROUP_OFFSETS_MS; 0 = no mirror. */
    groupOffsetsMs: number;
    tls: { enabled: boolean; caFile?: string; certFile?: string; keyFile?: string };
    sasl?: { mechanism: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512'; username: string; password: string };
  };
  maxOpenFiles: number;
  logScrubBytesPerSec: number;
  logFlushBytes: number;
  webhookAllowPrivate: boolean;
  /** Host patterns and CIDRs from SLUICE_WEBHOOK_ALLOW_HOSTS; empty = no allowlist. */
  webhookAllowHosts: string[];
  webhookMaxConcurrency: number;
  webhookDeliveriesKept: number;
  leaseMs: number;
  queueMaxWindow: number;
  queueSweepIntervalMs: number;
  overviewIntervalMs: number;
  /** Process-wide caps and client timeouts (README "Limits"). */
  limits: {
    maxConnections: number;
    maxStreams: number;
    maxBufferedBodyBytes: number;
    headersTimeoutMs: number;
    requestTimeoutMs: number;
    keepAliveTimeoutMs: number;
    /** SLUICE_ALLOWED_HOSTS entries. */
    allowedHosts: string[];
    /** Per-key quotas; 0 = none. */
    keyProduceBytesPerSec: number;
    keyReadBytesPerSec: number;
    keyMaxStreams: number;
  };
}

export class ConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(`Invalid configuration:\n${issues.map((i) => `  - ${i}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Parse the environment into a Config. Throws ConfigError listing every bad variable
 * with what it accepts. Empty strings count as unset, as shells often export them.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const relevant: Record<string, string> = {};
  for (const key of Object.keys(envSchema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') relevant[key] = value;
  }
  const parsed = envSchema.safeParse(relevant);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const name = String(issue.path[0] ?? '(environment)');
        return `${name}=${JSON.stringify(relevant[name] ?? '')} is invalid: expected ${issue.message}`;
      }),
    );
  }
  const e = parsed.data;
  const conflicts = [
    e.SLUICE_MAX_BUFFERED_BODY_BYTES < e.SLUICE_MAX_BODY_BYTES &&
      `SLUICE_MAX_BUFFERED_BODY_BYTES=${e.SLUICE_MAX_BUFFERED_BODY_BYTES} is invalid: expected at least SLUICE_MAX_BODY_BYTES (${e.SLUICE_MAX_BODY_BYTES}), or no body of the largest size could ever be received`,
    e.SLUICE_REQUEST_TIMEOUT_MS < e.SLUICE_HEADERS_TIMEOUT_MS &&
      `SLUICE_REQUEST_TIMEOUT_MS=${e.SLUICE_REQUEST_TIMEOUT_MS} is invalid: expected at least SLUICE_HEADERS_TIMEOUT_MS (${e.SLUICE_HEADERS_TIMEOUT_MS})`,
    e.SLUICE_LOG_STORE === 'kafka' &&
      e.SLUICE_KAFKA_BROKERS === '' &&
      `SLUICE_KAFKA_BROKERS="" is invalid: expected the Kafka bootstrap servers (host:port,...) since SLUICE_LOG_STORE=kafka`,
    e.SLUICE_KAFKA_SASL_MECHANISM !== undefined &&
      (e.SLUICE_KAFKA_SASL_USERNAME === undefined || e.SLUICE_KAFKA_SASL_PASSWORD === undefined) &&
      `SLUICE_KAFKA_SASL_MECHANISM=${e.SLUICE_KAFKA_SASL_MECHANISM} is invalid: expected SLUICE_KAFKA_SASL_USERNAME and SLUICE_KAFKA_SASL_PASSWORD too`,
  ].filter((m): m is string => typeof m === 'string');
  if (conflicts.length > 0) throw new ConfigError(conflicts);
  const dataDir = path.resolve(e.DATA_DIR);
  return {
    host: e.HOST,
    port: e.PORT,
    dataDir,
    database: e.DATABASE_URL
      ? { kind: 'postgres', url: e.DATABASE_URL }
      : { kind: 'pglite', dataDir: e.SLUICE_PGLITE_IN_MEMORY ? null : path.join(dataDir, 'meta') },
    logLevel: e.SLUICE_LOG_LEVEL,
    maxBodyBytes: e.SLUICE_MAX_BODY_BYTES,
    maxRecordsPerRequest: e.SLUICE_MAX_RECORDS_PER_REQUEST,
    maxJsonDepth: e.SLUICE_MAX_JSON_DEPTH,
    idempotencyWindowMs: e.SLUICE_IDEMPOTENCY_WINDOW_MS,
    idempotencyMaxEntries: e.SLUICE_IDEMPOTENCY_MAX_ENTRIES,
    timestampAfterMaxMs: e.SLUICE_TIMESTAMP_AFTER_MAX_MS,
    timestampBeforeMaxMs: e.SLUICE_TIMESTAMP_BEFORE_MAX_MS,
    idempotencyMaxBytes: e.SLUICE_IDEMPOTENCY_MAX_BYTES,
    maxPartitions: e.SLUICE_MAX_PARTITIONS,
    groupRebalanceDelayMs: e.SLUICE_GROUP_REBALANCE_DELAY_MS,
    groupSweepIntervalMs: e.SLUICE_GROUP_SWEEP_INTERVAL_MS,
    longPollMaxMs: e.SLUICE_LONG_POLL_MAX_MS,
    sseKeepaliveMs: e.SLUICE_SSE_KEEPALIVE_MS,
    streamLongPollMs: e.SLUICE_STREAM_LONG_POLL_MS,
    streamSseMaxMs: e.SLUICE_STREAM_SSE_MAX_MS,
    streamSweepMs: e.SLUICE_STREAM_SWEEP_MS,
    sseRetryMs: e.SLUICE_SSE_RETRY_MS,
    sseMaxBufferedBytes: e.SLUICE_SSE_MAX_BUFFERED_BYTES,
    corsOrigins: e.SLUICE_CORS_ORIGINS.split(',')
      .map((s) => s.trim())
      .filter((s) => s !== ''),
    auth: {
      mode: e.SLUICE_AUTH,
      adminKey: e.SLUICE_ADMIN_KEY ?? null,
      tokenSecret: e.SLUICE_TOKEN_SECRET ?? null,
      metricsPublic: e.SLUICE_METRICS_PUBLIC,
      docsPublic: e.SLUICE_DOCS_PUBLIC,
    },
    shutdownTimeoutMs: e.SLUICE_SHUTDOWN_TIMEOUT_MS,
    dbPoolMax: e.SLUICE_DB_POOL_MAX,
    dbConnectTimeoutMs: e.SLUICE_DB_CONNECT_TIMEOUT_MS,
    logStore: e.SLUICE_LOG_STORE,
    kafka: {
      brokers: e.SLUICE_KAFKA_BROKERS.split(',').filter((b) => b !== ''),
      clientId: e.SLUICE_KAFKA_CLIENT_ID,
      topicPrefix: e.SLUICE_KAFKA_TOPIC_PREFIX,
      replicationFactor: e.SLUICE_KAFKA_REPLICATION_FACTOR,
      topicSyncMs: e.SLUICE_KAFKA_TOPIC_SYNC_MS,
      groupOffsetsMs: e.SLUICE_KAFKA_GROUP_OFFSETS_MS,
      tls: {
        enabled: e.SLUICE_KAFKA_TLS || e.SLUICE_KAFKA_TLS_CA_FILE !== undefined,
        caFile: e.SLUICE_KAFKA_TLS_CA_FILE,
        certFile: e.SLUICE_KAFKA_TLS_CERT_FILE,
        keyFile: e.SLUICE_KAFKA_TLS_KEY_FILE,
      },
      ...(e.SLUICE_KAFKA_SASL_MECHANISM
        ? {
            sasl: {
              mechanism: e.SLUICE_KAFKA_SASL_MECHANISM,
              username: e.SLUICE_KAFKA_SASL_USERNAME ?? '',
              password: e.SLUICE_KAFKA_SASL_PASSWORD ?? '',
            },
          }
        : {}),
    },
    maxOpenFiles: e.SLUICE_MAX_OPEN_FILES,
    logScrubBytesPerSec: e.SLUICE_LOG_SCRUB_BYTES_PER_SEC,
    logFlushBytes: e.SLUICE_LOG_FLUSH_BYTES,
    webhookAllowPrivate: e.SLUICE_WEBHOOK_ALLOW_PRIVATE,
    webhookAllowHosts: e.SLUICE_WEBHOOK_ALLOW_HOSTS.split(',')
      .map((s) => s.trim())
      .filter((s) => s !== ''),
    webhookMaxConcurrency: e.SLUICE_WEBHOOK_MAX_CONCURRENCY,
    webhookDeliveriesKept: e.SLUICE_WEBHOOK_DELIVERIES_KEPT,
    leaseMs: e.SLUICE_LEASE_MS,
    queueMaxWindow: e.SLUICE_QUEUE_MAX_WINDOW,
    queueSweepIntervalMs: e.SLUICE_QUEUE_SWEEP_INTERVAL_MS,
    overviewIntervalMs: e.SLUICE_OVERVIEW_INTERVAL_MS,
    limits: {
      maxConnections: e.SLUICE_MAX_CONNECTIONS,
      maxStreams: e.SLUICE_MAX_STREAMS,
      maxBufferedBodyBytes: e.SLUICE_MAX_BUFFERED_BODY_BYTES,
      headersTimeoutMs: e.SLUICE_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: e.SLUICE_REQUEST_TIMEOUT_MS,
      keepAliveTimeoutMs: e.SLUICE_KEEP_ALIVE_TIMEOUT_MS,
      allowedHosts: e.SLUICE_ALLOWED_HOSTS.split(',')
        .map((s) => s.trim())
        .filter((s) => s !== ''),
      keyProduceBytesPerSec: e.SLUICE_KEY_PRODUCE_BYTES_PER_SEC,
      keyReadBytesPerSec: e.SLUICE_KEY_READ_BYTES_PER_SEC,
      keyMaxStreams: e.SLUICE_KEY_MAX_STREAMS,
    },
  };
}
