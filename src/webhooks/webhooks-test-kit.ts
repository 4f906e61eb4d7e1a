// Test helper: a real HTTP receiver on 127.0.0.1:0 that records every webhook request and
// answers as a test scripts it (status, headers, delay), with event-driven waits.
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  /** Arrival order, from 0. */
  seq: number;
  headers: Record<string, string>;
  body: string;
  json: {
    topic: string;
    partition: number;
    records: Array<{
      offset: number;
      partition: number;
      key: string | null;
      value: unknown;
      headers: Record<string, string>;
    }>;
  };
  /** Whether we answered 2xx. */
  accepted: boolean;
}

export interface Answer {
  status: number;
  headers?: Record<string, string>;
  /** Wait this long before answering (the sender may time out first). */
  delayMs?: number;
}

export type Script = (req: Omit<ReceivedRequest, 'accepted'>) => Answer;

export class TestReceiver {
  readonly requests: ReceivedRequest[] = [];
  /** Most concurrent requests seen for one partition (order needs this to stay 1). */
  maxInFlightPerPartition = 0;
  private readonly inFlight = new Map<number, number>();
  private readonly events = new EventEmitter();
  script: Script = () => ({ status: 200 });

  private constructor(
    private readonly server: http.Server,
    readonly url: string,
  ) {}

  static async start(path = '/hook'): Promise<TestReceiver> {
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const receiver = new TestReceiver(server, `http://127.0.0.1:${port}${path}`);
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => void receiver.handle(req, res));
    return receiver;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
    const json = JSON.parse(body) as ReceivedRequest['json'];
    const seq = this.requests.length;
    const partition = json.partition;
    const now = (this.inFlight.get(partition) ?? 0) + 1;
    this.inFlight.set(partition, now);
    this.maxInFlightPerPartition = Math.max(this.maxInFlightPerPartition, now);
    const answer = this.script({ seq, headers, body, json });
    const entry: ReceivedRequest = { seq, headers, body, json, accepted: false };
    this.requests.push(entry);
    this.events.emit('request');
    const respond = () => {
      this.inFlight.set(partition, (this.inFlight.get(partition) ?? 1) - 1);
      if (res.destroyed) return;
      entry.accepted = answer.status >= 200 && answer.status < 300;
      res.writeHead(answer.status, { 'content-type': 'text/plain', ...answer.headers });
      res.end(entry.accepted ? 'ok' : `answer ${answer.status}`);
      this.events.emit('request');
    };
    res.on('close', () => {
      if (!res.writableFinished) this.inFlight.set(partition, (this.inFlight.get(partition) ?? 1) - 1);
    });
    if (answer.delayMs) setTimeout(respond, answer.delayMs);
    else respond();
  }

  /** Resolve once `predicate` holds (checked after each request/answer), or reject after timeoutMs. */
  waitFor(predicate: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!predicate()) return;
        cleanup();
        resolve();
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${this.requests.length} requests so far)`),
        );
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.events.off('request', check);
      };
      this.events.on('request', check);
    });
  }

  /** Offsets accepted (2xx) per partition, in acceptance order. */
  acceptedOffsets(): Map<number, number[]> {
    const out = new Map<number, number[]>();
    for (const r of this.requests) {
      if (!r.accepted) continue;
      const list = out.get(r.json.partition) ?? [];
      list.push(...r.json.records.map((x) => x.offset));
      out.set(r.json.partition, list);
    }
    return out;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
