// Zigzag varints as Kafka's record format uses them (ByteUtils.writeVarint/writeVarlong).
// Plain-number arithmetic: every value Sluice writes (lengths, deltas) fits in 2^52.

/** Bytes needed for the zigzag varint of `n`. */
export function varintSize(n: number): number {
  if (n >= 0 && n < 64) return 1; // the common case (small deltas, tiny fields)
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
    let z = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new RangeError('varint runs past the end of the record');
      const b = this.buf[this.pos++]!;
      z += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
      mul *= 128;
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
