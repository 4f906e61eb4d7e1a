// Zigzag varints as Kafka's record format uses them (ByteUtils.writeVarint/writeVarlong).
// Plain-number arithmetic while the zigzag value stays below 2^53; beyond, BigInt (exact).

/**
 * From this magnitude on, the zigzag value (2n, or -2n - 1 for a negative n) passes 2^53, where
 * plain numbers are no longer exact: two record timestamps of one batch (0 … 8.64e15) can be that
 * far apart. Such a value goes through BigInt.
 */
const WIDE = 2 ** 52;

/** The zigzag value of `n` as a 64-bit unsigned integer. */
const wideZigzag = (n: number): bigint => {
  const b = BigInt(n);
  return b >= 0n ? b << 1n : (-b << 1n) - 1n;
};

/** Bytes needed for the zigzag varint of `n`. */
export function varintSize(n: number): number {
  if (n >= 0 && n < 64) return 1; // the common case (small deltas, tiny fields)
  if (n >= WIDE || n <= -WIDE) {
    let size = 1;
    for (let z = wideZigzag(n); z >= 0x80n; z >>= 7n) size++;
    return size;
  }
  let z = n >= 0 ? n * 2 : -n * 2 - 1;
  let size = 1;
  while (z >= 0x80) {
    z = Math.floor(z / 128);
    size++;
  }
  return size;
}

/** Writes the zigzag varint of `n` at `pos`; returns the position after it. */
export function writeVarint(buf: Buffer, pos: number, n: number): number {
  if (n >= 0 && n < 64) {
    buf[pos] = n * 2;
    return pos + 1;
  }
  if (n >= WIDE || n <= -WIDE) {
    let w = wideZigzag(n);
    for (; w >= 0x80n; w >>= 7n) buf[pos++] = Number(w & 0x7fn) | 0x80;
    buf[pos++] = Number(w);
    return pos;
  }
  let z = n >= 0 ? n * 2 : -n * 2 - 1;
  while (z >= 0x80) {
    buf[pos++] = (z % 128) | 0x80;
    z = Math.floor(z / 128);
  }
  buf[pos++] = z;
  return pos;
}

/** Cursor over a buffer for decoding; throws RangeError on truncated or overlong input. */
export class VarReader {
  constructor(
    readonly buf: Buffer,
    public pos: number,
    /** Where reading stops; a caller walking record after record may move it. */
    public end: number,
  ) {}

  varint(): number {
    const start = this.pos;
    let z = 0;
    let mul = 1;
    // Seven bytes carry 49 bits: exact as a plain number. A longer varint is read again wide.
    for (let i = 0; i < 7; i++) {
      if (this.pos >= this.end) throw new RangeError('varint runs past the end of the record');
      const b = this.buf[this.pos++]!;
      z += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
      mul *= 128;
    }
    return this.wideVarint(start);
  }

  /** A varint of 8 to 10 bytes, in BigInt: exact for every safe integer (a larger int64 rounds). */
  private wideVarint(start: number): number {
    this.pos = start;
    let z = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new RangeError('varint runs past the end of the record');
      const b = this.buf[this.pos++]!;
      z |= BigInt(b & 0x7f) << BigInt(7 * i);
      if ((b & 0x80) === 0) return Number((z & 1n) === 0n ? z >> 1n : -(z >> 1n) - 1n);
    }
    throw new RangeError('varint longer than 10 bytes');
  }

  int8(): number {
    if (this.pos >= this.end) throw new RangeError('record truncated');
    return this.buf.readInt8(this.pos++);
  }

  /** Skips a field of `len` bytes (-1: null, nothing to skip). */
  skip(len: number): void {
    if (len < 0) return;
    if (this.pos + len > this.end) throw new RangeError('field runs past the end of the record');
    this.pos += len;
  }

  /** A length-prefixed byte field; -1 means null. Returns a view, not a copy. */
  bytes(): Buffer | null {
    const len = this.varint();
    if (len < 0) return null;
    if (this.pos + len > this.end) throw new RangeError('field runs past the end of the record');
    const view = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return view;
  }
}
