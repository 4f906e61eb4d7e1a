// Reusable buffers for group fetch answers. A 10,000-record answer is a few MB; a new buffer for
// each is memory outside the JS heap that only a garbage collection frees, and V8 counts what
// was allocated outside the heap since its last mark-compact against the old generation's limit:
// at a few MB per fetch it ran a mark-compact every few fetches (#19). An answer written into a
// buffer that an earlier answer has finished with allocates nothing.

const MiB = 1024 * 1024;

export interface AnswerBuffersOptions {
  /** Answers smaller than this take a new (pooled-slab) buffer: not worth keeping one for. */
  minBytes: number;
  /** Answers larger than this take a new buffer, never kept. */
  maxBytes: number;
  /** Idle buffers kept at most (in use ones are not counted). */
  maxIdle: number;
}

const defaults: AnswerBuffersOptions = { minBytes: 64 * 1024, maxBytes: 8 * MiB, maxIdle: 4 };

/**
 * Buffers lent by `take` and returned by `give` once nothing reads them any more (the answer's
 * last byte handed to the socket). A buffer is lent to one answer at a time; one that will never
 * be given back (its connection closed first) must be `forget`-ten, or the pool holds it for ever.
 */
export class AnswerBuffers {
  readonly #options: AnswerBuffersOptions;
  readonly #idle: ArrayBuffer[] = [];
  readonly #lent = new Set<ArrayBuffer>();

  constructor(options: Partial<AnswerBuffersOptions> = {}) {
    this.#options = { ...defaults, ...options };
  }

  /** A buffer of exactly `size` bytes (unset contents). */
  take(size: number): Buffer<ArrayBuffer> {
    const { minBytes, maxBytes } = this.#options;
    if (size < minBytes || size > maxBytes) return Buffer.allocUnsafe(size);
    let best = -1;
    for (let i = 0; i < this.#idle.length; i++) {
      const len = this.#idle[i]!.byteLength;
      if (len >= size && (best < 0 || len < this.#idle[best]!.byteLength)) best = i;
    }
    // Capacity a power of two, so answers of similar sizes fit the same buffer.
    const ab =
      best >= 0 ? this.#idle.splice(best, 1)[0]! : new ArrayBuffer(Math.min(maxBytes, 2 ** Math.ceil(Math.log2(size))));
    this.#lent.add(ab);
    return Buffer.from(ab, 0, size);
  }

  /**
   * `buf` (from `take`, or a view of it) is no longer read: its memory may be lent again. Anything
   * else is ignored, and so is a buffer given twice.
   */
  give(buf: Uint8Array): void {
    const ab = buf.buffer;
    if (!(ab instanceof ArrayBuffer) || !this.#lent.delete(ab)) return;
    if (this.#idle.length < this.#options.maxIdle) this.#idle.push(ab);
  }

  /**
   * `buf` (from `take`) will never be given back, and something may still read it: the pool stops
   * counting it as lent and never lends it again; the garbage collector frees it.
   */
  forget(buf: Uint8Array): void {
    const ab = buf.buffer;
    if (ab instanceof ArrayBuffer) this.#lent.delete(ab);
  }

  /** Buffers lent and not given back, and idle ones (tests). */
  get counts(): { lent: number; idle: number } {
    return { lent: this.#lent.size, idle: this.#idle.length };
  }
}
