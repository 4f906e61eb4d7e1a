// Lease strings: what a receiver gets per record and hands back to acknowledge it. They name
// the partition, the offset, the receive's random token and when the lease first ran out.
import { randomBytes } from 'node:crypto';

export interface Lease {
  partition: number;
  offset: number;
  /** Random per receive and partition: a later delivery of the same record has another. */
  token: string;
  /** When the lease was due to run out when issued (Unix ms); tells "expired" from "unknown". */
  expiresAt: number;
}

const LEASE = /^(\d{1,6})\.(\d{1,16})\.([0-9a-f]{12})\.([0-9a-z]{1,11})$/;

export const LEASE_FORMAT = '<partition>.<offset>.<token>.<expiry>, as returned by receive';

export function newToken(): string {
  return randomBytes(6).toString('hex');
}

export function formatLease(l: Lease): string {
  return `${l.partition}.${l.offset}.${l.token}.${l.expiresAt.toString(36)}`;
}

/** Parse a lease string; undefined if it is not one Sluice could have issued. */
export function parseLease(s: string): Lease | undefined {
  const m = LEASE.exec(s);
  if (!m) return undefined;
  const offset = Number(m[2]);
  const expiresAt = parseInt(m[4]!, 36);
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(expiresAt)) return undefined;
  return { partition: Number(m[1]), offset, token: m[3]!, expiresAt };
}
