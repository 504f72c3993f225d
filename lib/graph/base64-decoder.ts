/**
 * Decodes base64 that arrives as bytes in chunks, without turning the text into strings: Node
 * decodes base64 only from a string, and a 100 MB item's 133 MB of base64 as strings fills the
 * heap with garbage whose collections promote the stream's buffers into the old generation,
 * where they wait for a full collection (controller memory, issue 12). Standard alphabet
 * (`A–Z a–z 0–9 + /`), `=` padding at the end.
 */

const INVALID = -1;
const PAD = 0x3d; // "="
const VALUES = (() => {
  const table = new Int8Array(256).fill(INVALID);
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (let i = 0; i < alphabet.length; i++) table[alphabet.charCodeAt(i)] = i;
  return table;
})();

/** A byte of the input that is not base64. */
export class Base64DecodeError extends TypeError {
  override name = "Base64DecodeError";
}

export class Base64Decoder {
  /** Bits of the group in progress, and how many characters it holds (0–3). */
  private bits = 0;
  private held = 0;
  /** Padding seen: the data is complete; only more `=` may follow. */
  private ended = false;
  /** Characters decoded so far (for error messages). */
  private position = 0;

  /**
   * Decodes the characters of `chunk` in place (the decoded bytes take less room than their
   * characters, so each group is written over characters already read: no new buffer for the
   * data); returns the bytes they complete, possibly none: a small buffer for a group begun in an
   * earlier chunk, then a view of `chunk`. `chunk` is overwritten: pass one that is not read again.
   */
  push(chunk: Uint8Array): Buffer[] {
    const parts: Buffer[] = [];
    let i = 0;
    // A group begun in an earlier chunk is completed apart (its bytes would land ahead of the
    // characters still to read).
    if (this.held > 0) {
      const head = Buffer.allocUnsafe(3);
      let h = 0;
      while (this.held > 0 && i < chunk.length) h = this.take(chunk[i] as number, i++, head, h);
      if (h > 0) parts.push(head.subarray(0, h));
    }
    const body = Buffer.from(chunk.buffer, chunk.byteOffset + i, chunk.length - i);
    let o = 0;
    for (let k = 0; k < body.length; k++) o = this.take(body[k] as number, i + k, body, o);
    if (o > 0) parts.push(body.subarray(0, o));
    this.position += chunk.length;
    return parts;
  }

  /** Takes one character; writes the bytes it completes at `o` of `out`; returns the next `o`. */
  private take(c: number, index: number, out: Uint8Array, o: number): number {
    if (this.ended) {
      if (c !== PAD) throw this.invalid(c, index, "after the padding");
      return o;
    }
    if (c === PAD) {
      // "xx==" ends with one byte, "xxx=" with two; padding elsewhere is malformed.
      if (this.held === 2) out[o++] = (this.bits >> 4) & 0xff;
      else if (this.held === 3) {
        out[o++] = (this.bits >> 10) & 0xff;
        out[o++] = (this.bits >> 2) & 0xff;
      } else throw this.invalid(c, index, "where a group of 4 cannot end");
      this.ended = true;
      this.bits = 0;
      this.held = 0;
      return o;
    }
    const v = VALUES[c] as number;
    if (v === INVALID) throw this.invalid(c, index, "in the data");
    this.bits = (this.bits << 6) | v;
    if (++this.held === 4) {
      out[o++] = (this.bits >> 16) & 0xff;
      out[o++] = (this.bits >> 8) & 0xff;
      out[o++] = this.bits & 0xff;
      this.bits = 0;
      this.held = 0;
    }
    return o;
  }

  /** Ends the input; throws when it stopped inside a group without its padding. */
  end(): void {
    if (this.held !== 0) {
      throw new Base64DecodeError(
        `base64: expected the data to end with a whole group of 4 characters, found ${this.held} left over`,
      );
    }
  }

  private invalid(byte: number, index: number, where: string): Base64DecodeError {
    return new Base64DecodeError(
      `base64: expected a base64 character, found byte 0x${byte.toString(16).padStart(2, "0")} ${where} at character ${this.position + index}`,
    );
  }
}
