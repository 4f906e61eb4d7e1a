// Counts concurrent holders of something scarce (open streams), overall and per owner, and
// refuses a new holder beyond either cap. Releasing is idempotent.

export type Release = () => void;

export class SlotCounter {
  private total = 0;
  private readonly perOwner = new Map<string, number>();

  /** `max`: overall cap. */
  constructor(readonly max: number) {}

  get size(): number {
    return this.total;
  }

  /** Slots held by `owner`. */
  heldBy(owner: string): number {
    return this.perOwner.get(owner) ?? 0;
  }

  /**
   * Take a slot, or say which cap is reached: `total` (the overall cap) or `owner`
   * (`owner` already holds `ownerMax`). Without an owner only the overall cap applies.
   */
  acquire(owner?: { id: string; max: number }): { ok: true; release: Release } | { ok: false; cap: 'total' | 'owner' } {
    if (this.total >= this.max) return { ok: false, cap: 'total' };
    if (owner && this.heldBy(owner.id) >= owner.max) return { ok: false, cap: 'owner' };
    this.total++;
    if (owner) this.perOwner.set(owner.id, this.heldBy(owner.id) + 1);
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        this.total--;
        if (!owner) return;
        const left = this.heldBy(owner.id) - 1;
        if (left > 0) this.perOwner.set(owner.id, left);
        else this.perOwner.delete(owner.id);
      },
    };
  }
}
