// A process-wide budget of request-body bytes being received at once
// (SLUICE_MAX_BUFFERED_BODY_BYTES): a request reserves its body size before it is read.
import type { Release } from './slot-counter.js';

export class ByteBudget {
  private used = 0;

  constructor(readonly max: number) {}

  /** Bytes reserved now. */
  get reserved(): number {
    return this.used;
  }

  /** Reserve `bytes`, or null when they do not fit in what is left. Releasing is idempotent. */
  reserve(bytes: number): Release | null {
    if (bytes <= 0) return () => {};
    if (this.used + bytes > this.max) return null;
    this.used += bytes;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= bytes;
    };
  }
}
