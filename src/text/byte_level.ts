/**
 * GPT-2's byte ↔ character map ("ByteLevel"), used by every byte-level BPE
 * (Qwen2/Qwen3 included). Byte-level BPE works on bytes, but its vocabulary
 * and merges are stored as text, so each of the 256 byte values is written as
 * one printable character: printable Latin-1 bytes stand for themselves and
 * the rest (controls, space, 0x7f–0xa0, 0xad) take the code points from
 * U+0100 upwards, in byte order. A space is therefore `Ġ` (U+0120) and a
 * newline `Ċ` (U+010A).
 */

function buildByteToChar(): string[] {
  const out = new Array<string>(256);
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
    out[b] = String.fromCharCode(printable ? b : next++);
  }
  return out;
}

/** Byte value → the single character that stands for it in vocab and merges. */
export const BYTE_TO_CHAR: readonly string[] = buildByteToChar();

/** The inverse of {@link BYTE_TO_CHAR}. */
export const CHAR_TO_BYTE: ReadonlyMap<string, number> = new Map(
  BYTE_TO_CHAR.map((c, b) => [c, b]),
);

/** UTF-8 bytes of `s` (lone surrogates become U+FFFD, as `TextEncoder` does). */
export function utf8Bytes(s: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      out.push(c);
      continue;
    }
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const lo = s.charCodeAt(i + 1);
      if (lo >= 0xdc00 && lo <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
        i++;
      }
    }
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
    if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else {
      out.push(
        0xf0 | (c >> 18),
        0x80 | ((c >> 12) & 63),
        0x80 | ((c >> 6) & 63),
        0x80 | (c & 63),
      );
    }
  }
  return out;
}

/**
 * Appends the bytes a vocabulary token stands for. Like Hugging Face's
 * ByteLevel decoder, a token with any character outside the byte map (an
 * added token such as `<|im_start|>` never has one, but a custom one might)
 * is taken as its own UTF-8 text instead.
 */
export function pushTokenBytes(token: string, out: number[]): void {
  const start = out.length;
  for (const ch of token) {
    const b = CHAR_TO_BYTE.get(ch);
    if (b === undefined) {
      out.length = start;
      for (const u of utf8Bytes(token)) out.push(u);
      return;
    }
    out.push(b);
  }
}
