// One webhook HTTP attempt: POST a JSON body with node:http(s), the URL policy's checking
// `lookup`, a hard time-out, no redirects, and at most a small slice of the answer read back.
import http from 'node:http';
import https from 'node:https';
import { parseRetryAfter } from './backoff.js';
import type { UrlPolicy } from './url-policy.js';

/** Bytes of a receiver's answer kept for the deliveries log; the rest is discarded unread. */
const MAX_RESPONSE_SNIPPET = 512;

export type AttemptResult =
  | { kind: 'response'; status: number; retryAfterMs: number | undefined; snippet: string }
  | { kind: 'error'; message: string; timedOut: boolean; aborted: boolean };

export interface SendRequest {
  url: string;
  body: string;
  headers: Record<string, string>;
  timeoutMs: number;
  signal: AbortSignal;
}

/** What delivery needs from the network: one method, so tests can fake it. */
export interface WebhookSender {
  send(req: SendRequest): Promise<AttemptResult>;
  close(): void;
}

export class HttpSender implements WebhookSender {
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  private readonly httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 256 });

  constructor(
    private readonly policy: UrlPolicy,
    private readonly userAgent = 'Sluice-Webhooks/1',
  ) {}

  send(req: SendRequest): Promise<AttemptResult> {
    // The literal check again: config may have changed since the webhook was created.
    const checked = this.policy.checkUrl(req.url);
    if (!checked.ok) return Promise.resolve({ kind: 'error', message: checked.error, timedOut: false, aborted: false });
    const url = checked.value;
    const isHttps = url.protocol === 'https:';
    const body = Buffer.from(req.body, 'utf8');

    return new Promise((resolve) => {
      let settled = false;
      const finish = (result: AttemptResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        req.signal.removeEventListener('abort', onAbort);
        resolve(result);
      };
      const request = (isHttps ? https : http).request(url, {
        method: 'POST',
        agent: isHttps ? this.httpsAgent : this.httpAgent,
        lookup: this.policy.lookup,
        headers: {
          ...req.headers,
          'content-type': 'application/json',
          'content-length': String(body.length),
          'user-agent': this.userAgent,
        },
      });
      const timer = setTimeout(() => {
        finish({
          kind: 'error',
          message: `no complete answer within timeout_ms (${req.timeoutMs} ms)`,
          timedOut: true,
          aborted: false,
        });
        request.destroy();
      }, req.timeoutMs);
      const onAbort = () => {
        finish({
          kind: 'error',
          message: 'delivery stopped (shutdown, pause or update)',
          timedOut: false,
          aborted: true,
        });
        request.destroy();
      };
      if (req.signal.aborted) return onAbort();
      req.signal.addEventListener('abort', onAbort, { once: true });

      request.on('error', (e: NodeJS.ErrnoException) => {
        const code = e.code && e.code !== 'EWEBHOOKADDRESS' ? `${e.code}: ` : '';
        finish({ kind: 'error', message: `${code}${e.message}`, timedOut: false, aborted: false });
      });
      request.on('response', (res) => {
        const chunks: Buffer[] = [];
        let kept = 0;
        res.on('data', (chunk: Buffer) => {
          if (kept < MAX_RESPONSE_SNIPPET) {
            chunks.push(chunk.subarray(0, MAX_RESPONSE_SNIPPET - kept));
            kept += Math.min(chunk.length, MAX_RESPONSE_SNIPPET - kept);
          }
        });
        // The answer counts once its body has arrived (within the time-out): a receiver that
        // sends headers and then hangs has not answered.
        res.on('end', () => {
          const retryAfter = res.headers['retry-after'];
          finish({
            kind: 'response',
            status: res.statusCode ?? 0,
            retryAfterMs: parseRetryAfter(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter),
            snippet: Buffer.concat(chunks).toString('utf8'),
          });
        });
        res.on('error', (e) => finish({ kind: 'error', message: e.message, timedOut: false, aborted: false }));
      });
      request.end(body);
    });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}
