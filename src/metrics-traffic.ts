// Traffic and state series for /metrics and the dashboard: log append/fsync latency, records and
// bytes in and out, open SSE streams, webhook outcomes and backlog, group lag, retention deletions.
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { LogObserver } from './log/types.js';

const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** Running totals the dashboard turns into rates (the same numbers /metrics shows). */
export interface TrafficTotals {
  recordsIn: number;
  bytesIn: number;
  recordsRead: number;
  bytesOut: number;
}

/**
 * Bytes sent by responses that carry records (reads, fetches, SSE streams, queue receives),
 * counted from the socket as they go out: a long stream is counted while it runs, not only at
 * its end. Open responses are settled at scrape time and by the dashboard's tick.
 */
export class BytesOutMeter {
  /** Each open response: its socket (detached from the response once it finishes) and the bytes counted. */
  private readonly open = new Map<ServerResponse, { socket: Socket; counted: number; operation: string }>();
  private readonly sseOpen = new Map<string, number>();
  total = 0;

  constructor(
    private readonly counter: Counter<'operation'>,
    private readonly sse: Gauge<'operation'>,
  ) {}

  /** Count what `res` sends from now until it closes. */
  track(res: ServerResponse, operation: string): void {
    const socket = res.socket;
    if (!socket) {
      // Pipelined behind a response still being written: it sends once Node hands it the socket.
      res.once('socket', () => this.track(res, operation));
      return;
    }
    if (this.open.has(res)) return;
    this.open.set(res, { socket, counted: socket.bytesWritten, operation });
    // Its last byte is on the socket at 'prefinish': settled then, before Node hands the socket
    // to a response pipelined behind it (whose bytes are its own); at 'close' if it never ended.
    const last = () => {
      this.settleOne(res);
      this.open.delete(res);
    };
    res.once('prefinish', last);
    res.once('close', last);
  }

  /** `res` is an SSE stream: counted as open until it closes. */
  streamOpened(res: ServerResponse, operation: string): void {
    this.sseOpen.set(operation, (this.sseOpen.get(operation) ?? 0) + 1);
    this.sse.inc({ operation });
    res.once('close', () => {
      this.sseOpen.set(operation, (this.sseOpen.get(operation) ?? 1) - 1);
      this.sse.dec({ operation });
    });
  }

  /** SSE streams open now, all operations together. */
  get sseStreams(): number {
    let n = 0;
    for (const v of this.sseOpen.values()) n += v;
    return n;
  }

  /**
   * Add what every open response sent since it was last settled: summed per operation first, so
   * 10k open streams cost one counter update per operation, not one (label lookup) per stream.
   */
  settle(): void {
    const sent = new Map<string, number>();
    for (const entry of this.open.values()) {
      const bytes = this.take(entry);
      if (bytes > 0) sent.set(entry.operation, (sent.get(entry.operation) ?? 0) + bytes);
    }
    for (const [operation, bytes] of sent) this.count(operation, bytes);
  }

  private settleOne(res: ServerResponse): void {
    const entry = this.open.get(res);
    if (!entry) return;
    const bytes = this.take(entry);
    if (bytes > 0) this.count(entry.operation, bytes);
  }

  /** Bytes `entry`'s socket sent since last taken. */
  private take(entry: { socket: Socket; counted: number }): number {
    const now = entry.socket.bytesWritten;
    const bytes = now > entry.counted ? now - entry.counted : 0;
    entry.counted = now;
    return bytes;
  }

  private count(operation: string, bytes: number): void {
    this.counter.inc({ operation }, bytes);
    this.total += bytes;
  }
}

export interface TrafficMetrics {
  /** Hooks for the log store: append/write/fsync latency, records in and read, retention. */
  readonly logObserver: LogObserver;
  readonly bytesOut: BytesOutMeter;
  /** Counts a webhook delivery attempt by outcome (delivered, failed, gone, dead_lettered). */
  webhookAttempt(outcome: string, seconds: number): void;
  totals(): TrafficTotals;
}

export function createTrafficMetrics(registry: Registry): TrafficMetrics {
  const reg = [registry];
  const appendSeconds = new Histogram({
    name: 'sluice_log_append_seconds',
    help: 'Time from a log append to its acknowledgement (queueing, write and, with durability fsync, the shared fdatasync).',
    buckets: LATENCY_BUCKETS,
    registers: reg,
  });
  const writeSeconds = new Histogram({
    name: 'sluice_log_write_seconds',
    help: 'Time of one group-commit write to a segment file.',
    buckets: LATENCY_BUCKETS,
    registers: reg,
  });
  const fsyncSeconds = new Histogram({
    name: 'sluice_log_fsync_seconds',
    help: 'Time of one group-commit fdatasync (appends with durability fsync).',
    buckets: LATENCY_BUCKETS,
    registers: reg,
  });
  const recordsIn = new Counter({
    name: 'sluice_records_in_total',
    help: 'Records appended to the log (produce, dead letters).',
    registers: reg,
  });
  const bytesIn = new Counter({
    name: 'sluice_bytes_in_total',
    help: 'Bytes appended to the log (record batches as stored).',
    registers: reg,
  });
  const recordsRead = new Counter({
    name: 'sluice_records_read_total',
    help: 'Records read from the log by reads, group fetches, SSE tails (once per shared tail), webhooks and queues.',
    registers: reg,
  });
  const readAheadPages = new Counter({
    name: 'sluice_log_read_ahead_pages_total',
    help: 'Pages read ahead for sequential readers (the page after the one read): used by the next read, or dropped unused.',
    labelNames: ['outcome'] as const,
    registers: reg,
  });
  const retentionSegments = new Counter({
    name: 'sluice_retention_deleted_segments_total',
    help: 'Closed segments deleted by retention (retention_ms, retention_bytes).',
    registers: reg,
  });
  const retentionBytes = new Counter({
    name: 'sluice_retention_deleted_bytes_total',
    help: 'Bytes of segments deleted by retention.',
    registers: reg,
  });
  const scrubBytes = new Counter({
    name: 'sluice_log_scrub_bytes_total',
    help: 'Log bytes CRC-checked by the background scrub that re-reads everything below the recovery point after a start.',
    registers: reg,
  });
  const scrubPasses = new Counter({
    name: 'sluice_log_scrub_passes_total',
    help: 'Scrub passes that checked the whole log as it was at start-up.',
    registers: reg,
  });
  const indexRebuilds = new Counter({
    name: 'sluice_log_index_rebuilds_total',
    help: 'Segment indexes found to disagree with the log (by a read or the scrub) and rebuilt from it.',
    registers: reg,
  });
  const webhookAttempts = new Counter({
    name: 'sluice_webhook_deliveries_total',
    help: 'Webhook delivery attempts by outcome (delivered, failed, gone, dead_lettered).',
    labelNames: ['outcome'],
    registers: reg,
  });
  const webhookSeconds = new Histogram({
    name: 'sluice_webhook_delivery_seconds',
    help: 'Time of one webhook delivery attempt (request to answer or time-out).',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: reg,
  });
  const bytesOutCounter = new Counter({
    name: 'sluice_bytes_out_total',
    help: 'Response bytes sent by operations that carry records (reads, group fetches, SSE streams, queue receives), by operation.',
    labelNames: ['operation'],
    registers: reg,
    collect() {
      meter.settle();
    },
  });
  const sseOpen = new Gauge({
    name: 'sluice_sse_streams_open',
    help: 'Server-Sent Events streams open now, by operation: every kind (topic, partition, group, queue, overview, Durable Streams live=sse); the dashboard shows their sum. Long-polls are not streams here (sluice_open_streams counts both).',
    labelNames: ['operation'],
    registers: reg,
  });
  const meter = new BytesOutMeter(bytesOutCounter, sseOpen);
  const totals: TrafficTotals = { recordsIn: 0, bytesIn: 0, recordsRead: 0, bytesOut: 0 };
  const bytesOut = meter;

  return {
    logObserver: {
      appended: (s) => appendSeconds.observe(s),
      written: (w) => {
        writeSeconds.observe(w.writeSeconds);
        if (w.syncSeconds !== null) fsyncSeconds.observe(w.syncSeconds);
        recordsIn.inc(w.records);
        bytesIn.inc(w.bytes);
        totals.recordsIn += w.records;
        totals.bytesIn += w.bytes;
      },
      read: (n) => {
        recordsRead.inc(n);
        totals.recordsRead += n;
      },
      readAhead: (used) => readAheadPages.inc({ outcome: used ? 'used' : 'unused' }),
      retentionDeleted: (segments, bytes) => {
        retentionSegments.inc(segments);
        retentionBytes.inc(bytes);
      },
      scrubbed: (bytes) => scrubBytes.inc(bytes),
      scrubFinished: () => scrubPasses.inc(),
      indexRebuilt: () => indexRebuilds.inc(),
    },
    bytesOut,
    webhookAttempt: (outcome, seconds) => {
      webhookAttempts.inc({ outcome });
      webhookSeconds.observe(seconds);
    },
    totals: () => {
      bytesOut.settle();
      return { ...totals, bytesOut: bytesOut.total };
    },
  };
}

/** Per-group lag and per-webhook backlog, read at scrape time (a failing database leaves the last values). */
export function registerStateGauges(
  registry: Registry,
  sources: {
    groupLags(): Promise<Array<{ group: string; lag: number }>>;
    webhookBacklogs(): Promise<Array<{ id: string; topic: string; state: string; lag: number }>>;
  },
): void {
  new Gauge({
    name: 'sluice_group_lag',
    help: 'Records a consumer group has yet to commit, summed over its partitions (as GET /v1/groups/{group} total_lag).',
    labelNames: ['group'],
    registers: [registry],
    async collect() {
      try {
        const lags = await sources.groupLags();
        this.reset();
        for (const { group, lag } of lags) this.set({ group }, lag);
      } catch {
        // Postgres unreachable: keep the last values rather than fail the scrape.
      }
    },
  });
  new Gauge({
    name: 'sluice_webhook_backlog_records',
    help: 'Records a webhook has yet to deliver, summed over its partitions, by webhook id, topic and state.',
    labelNames: ['webhook', 'topic', 'state'],
    registers: [registry],
    async collect() {
      try {
        const rows = await sources.webhookBacklogs();
        this.reset();
        for (const w of rows) this.set({ webhook: w.id, topic: w.topic, state: w.state }, w.lag);
      } catch {
        // as above
      }
    },
  });
}
