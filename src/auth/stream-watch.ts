// Open streams (SSE) opened with a key or token end when that credential does: at the
// token's expiry, or within about a second of the key being revoked or expiring.
import type { ServerResponse } from 'node:http';
import type { AuthService } from './auth-service.js';
import type { Principal } from './principal.js';

const CHECK_INTERVAL_MS = 500;
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Streams grouped by the key behind them, so a check costs one look-up per key, not per stream. */
interface Group {
  principal: Principal;
  streams: Set<ServerResponse>;
}

export class StreamWatch {
  private readonly groups = new Map<string, Group>();
  private timer: NodeJS.Timeout | null = null;
  private checking = false;

  constructor(private readonly auth: AuthService) {}

  add(principal: Principal, outgoing: ServerResponse): void {
    // Tokens of one key may differ in expiry: group by key and expiry.
    const id = `${principal.keyId ?? ''}|${principal.expiresAt ?? ''}`;
    let group = this.groups.get(id);
    if (!group) {
      group = { principal, streams: new Set() };
      this.groups.set(id, group);
    }
    group.streams.add(outgoing);
    let expiry: NodeJS.Timeout | undefined;
    const left = principal.expiresAt === null ? Infinity : Math.max(0, principal.expiresAt - Date.now());
    // Timers cannot wait past ~24.8 days (Node fires them at once instead); the periodic check covers those.
    if (left <= MAX_TIMER_MS) {
      expiry = setTimeout(() => outgoing.destroy(), left);
      expiry.unref();
    }
    const g = group;
    outgoing.once('close', () => {
      if (expiry) clearTimeout(expiry);
      g.streams.delete(outgoing);
      if (g.streams.size === 0 && this.groups.get(id) === g) this.groups.delete(id);
      if (this.groups.size === 0) this.stop();
    });
    this.timer ??= setInterval(() => void this.checkAll(), CHECK_INTERVAL_MS).unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async checkAll(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      // Collect first: ending streams changes the map.
      for (const group of [...this.groups.values()]) {
        let reason: string | null;
        try {
          reason = await this.auth.stillValid(group.principal);
        } catch {
          reason = null; // The database is unreachable: nothing can have been revoked through it.
        }
        // Dropping the connection: the client reconnects and is then refused with 401.
        if (reason !== null) for (const outgoing of [...group.streams]) outgoing.destroy();
      }
    } finally {
      this.checking = false;
    }
  }
}
