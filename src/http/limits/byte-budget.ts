// A process-wide budget of request-body bytes being received at once
// (SLUICE_MAX_BUFFERED_BODY_BYTES): a request reserves its body size before it is read. One
// owner (a credential) may hold only a share of it, so a client that declares large bodies and
// sends them slowly cannot hold every other client's bodies off until its requests time out.
import type { Release } from './slot-counter.js';

export type Reservation = { ok: true; release: Release } | { ok: false; cap: 'owner' | 'global' };

export class ByteBudget {
  private used = 0;
  private readonly owners = new Map<string, number>();

  /**
   * @param ownerMax Most bytes one owner may hold at once (a quarter of `max`, at least the
   *   largest body, unless given).
   */
  constructor(
    readonly max: number,
    readonly ownerMax = max,
  ) {}

  /** Bytes reserved now. */
  get reserved(): number {
    return this.used;
  }

  /** Reserve `bytes` for `owner` (undefined: no share, only the total). Releasing is idempotent. */
  reserve(bytes: number, owner?: string): Reservation {
    if (bytes <= 0) return { ok: true, release: () => {} };
    const held = owner === undefined ? 0 : (this.owners.get(owner) ?? 0);
    if (owner !== undefined && held + bytes > this.ownerMax) return { ok: false, cap: 'owner' };
    if (this.used + bytes > this.max) return { ok: false, cap: 'global' };
    this.used += bytes;
    if (owner !== undefined) this.owners.set(owner, held + bytes);
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        this.used -= bytes;
        if (owner === undefined) return;
        const left = (this.owners.get(owner) ?? bytes) - bytes;
        if (left > 0) this.owners.set(owner, left);
        else this.owners.delete(owner);
      },
    };
  }
}
