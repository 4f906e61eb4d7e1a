// Byte-rate quotas per key, in Kafka's manner: a request is let through while its key is not in
// debt and charged afterwards with what it moved; a key in debt is refused until it has paid it off.

export class RateBucket {
  private tokens: number;
  private last: number;

  /** `rate` bytes per second, at most `rate` (one second's worth) saved up. */
  constructor(
    private _rate: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = _rate;
    this.last = now();
  }

  get rate(): number {
    return this._rate;
  }

  /** A new rate (the key's quota changed): what was saved up or owed carries over, capped at one second's worth. */
  setRate(rate: number): void {
    if (rate === this._rate) return;
    this.refill();
    this._rate = rate;
    this.tokens = Math.min(this.tokens, rate);
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.rate, this.tokens + ((t - this.last) / 1000) * this.rate);
    this.last = t;
  }

  /** Milliseconds until the key is out of debt; 0 when a request may go ahead now. */
  waitMs(): number {
    this.refill();
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.rate) * 1000);
  }

  charge(bytes: number): void {
    this.refill();
    this.tokens -= bytes;
  }

  /** Full and untouched for a while: can be forgotten. */
  get idle(): boolean {
    this.refill();
    return this.tokens >= this.rate;
  }
}

/** One bucket per key id, created on first use; full buckets are dropped when the map grows. */
export class KeyRates {
  private readonly buckets = new Map<string, RateBucket>();

  /** `rate`: the default bytes/s, for keys without an override of their own. */
  constructor(
    readonly rate: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The bucket of `owner`, running at `rate` (its key's override) or the default. */
  bucket(owner: string, rate = this.rate): RateBucket {
    let b = this.buckets.get(owner);
    if (!b) {
      if (this.buckets.size >= 10_000) for (const [k, v] of [...this.buckets]) if (v.idle) this.buckets.delete(k);
      this.buckets.set(owner, (b = new RateBucket(rate, this.now)));
    } else b.setRate(rate);
    return b;
  }
}
