// Open streams (SSE, long-polls) opened with a key or token end when that credential does:
// at the token's expiry, or within about a second of the key being revoked or expiring.
import type { ServerResponse } from 'node:http';
import type { AuthService } from './auth-service.js';
import type { Principal } from './principal.js';

const CHECK_INTERVAL_MS = 500;

export class StreamWatch {
  private readonly watched = new Map<ServerResponse, Principal>();
  private timer: NodeJS.Timeout | null = null;
  private checking = false;

  constructor(private readonly auth: AuthService) {}

  get size(): number {
    return this.watched.size;
  }

  add(principal: Principal, outgoing: ServerResponse): void {
    this.watched.set(outgoing, principal);
    outgoing.once('close', () => {
      this.watched.delete(outgoing);
      if (this.watched.size === 0) this.stop();
    });
    if (principal.expiresAt !== null) {
      const t = setTimeout(() => this.end(outgoing), Math.max(0, principal.expiresAt - Date.now()));
      t.unref();
      outgoing.once('close', () => clearTimeout(t));
    }
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
      // Collect first: ending a stream removes it from the map.
      for (const [outgoing, principal] of [...this.watched]) {
        let reason: string | null;
        try {
          reason = await this.auth.stillValid(principal);
        } catch {
          reason = null; // The database is unreachable: nothing can have been revoked through it.
        }
        if (reason !== null) this.end(outgoing);
      }
    } finally {
      this.checking = false;
    }
  }

  /** Drop the connection: the client reconnects and is then refused with 401. */
  private end(outgoing: ServerResponse): void {
    this.watched.delete(outgoing);
    outgoing.destroy();
  }
}
