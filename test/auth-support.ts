// Helpers for access-control tests: a non-loopback address of this machine (to be a remote
// peer), key creation, bearer headers, and a logger that captures every line written.
import os from 'node:os';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';

/** An IPv4 address of this machine that is not loopback, or undefined if it has none. */
export function externalAddress(): string | undefined {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

export const bearer = (credential: string) => ({ authorization: `Bearer ${credential}` });

export interface CapturedLogs {
  logger: Logger;
  text(): string;
}

/** A debug-level JSON logger whose lines are kept in memory (to check nothing secret is written). */
export function captureLogs(): CapturedLogs {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), text: () => chunks.join('') };
}

export interface KeyBody {
  id: string;
  key: string;
  name: string;
}

/** POST /v1/keys as `as` (a credential, or anonymous on loopback), expecting 201. */
export async function createKey(
  baseUrl: string,
  grants: unknown[],
  options: { as?: string; name?: string; expiresAt?: number } = {},
): Promise<KeyBody> {
  const res = await fetch(`${baseUrl}/v1/keys`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(options.as ? bearer(options.as) : {}) },
    body: JSON.stringify({
      name: options.name ?? 'test',
      grants,
      ...(options.expiresAt !== undefined ? { expires_at: options.expiresAt } : {}),
    }),
  });
  const body = (await res.json()) as KeyBody;
  if (res.status !== 201) throw new Error(`create key: ${res.status} ${JSON.stringify(body)}`);
  return body;
}

/** POST /v1/tokens as `as`, expecting 201. */
export async function mintToken(baseUrl: string, as: string | undefined, grants: unknown[], ttlMs: number) {
  const res = await fetch(`${baseUrl}/v1/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(as ? bearer(as) : {}) },
    body: JSON.stringify({ grants, ttl_ms: ttlMs }),
  });
  const body = (await res.json()) as { token: string; expires_at: number };
  if (res.status !== 201) throw new Error(`mint token: ${res.status} ${JSON.stringify(body)}`);
  return body;
}

export const ALL_ACTIONS = ['read', 'write', 'create', 'delete', 'alter', 'describe'];
export const allOn = (resource: string, name = '*', pattern = 'literal') => ({
  resource,
  name,
  pattern,
  actions: ALL_ACTIONS,
});
export const ADMIN_GRANTS = ['topic', 'group', 'webhook', 'key', 'cluster'].map((r) => allOn(r));
