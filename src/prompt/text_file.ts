/**
 * The rules for a prompt or caption read from a file or stdin: UTF-8 only
 * (never decoded lossily: Latin-1 "café" would become "caf\uFFFD" and pass
 * as valid), text only (an image or a NUL byte is refused), and a size cap
 * (a caption is at most 2048 tokens; a few hundred KB is plenty, and a
 * runaway source such as /dev/zero must not fill memory). Browser-safe: the
 * readers that apply the cap live with each platform's command line.
 */
import { PromptRejectedError } from "./errors.ts";

/** Largest prompt file read, in bytes. */
export const MAX_PROMPT_FILE_BYTES = 512 * 1024;

/** Magic numbers of files people pass by mistake, with what to call them. */
const BINARY_MAGIC: [number[], string][] = [
  [[0x89, 0x50, 0x4e, 0x47], "a PNG image"],
  [[0xff, 0xd8, 0xff], "a JPEG image"],
  [[0x47, 0x49, 0x46, 0x38], "a GIF image"],
  [[0x52, 0x49, 0x46, 0x46], "a RIFF file (WebP, WAV, AVI)"],
  [[0x25, 0x50, 0x44, 0x46], "a PDF document"],
  [[0x50, 0x4b, 0x03, 0x04], "a ZIP archive"],
  [[0x1f, 0x8b], "a gzip archive"],
  [[0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59], "a NumPy .npy file"],
];

/**
 * Offset of the first byte that does not start or continue a valid UTF-8
 * sequence (overlong forms, surrogates and values above U+10FFFF included),
 * or -1 when all of `b` is valid.
 */
export function invalidUtf8Offset(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    let len: number, min: number, cp: number;
    if (c >= 0xc2 && c <= 0xdf) [len, min, cp] = [2, 0x80, c & 0x1f];
    else if (c >= 0xe0 && c <= 0xef) [len, min, cp] = [3, 0x800, c & 0x0f];
    else if (c >= 0xf0 && c <= 0xf4) [len, min, cp] = [4, 0x10000, c & 0x07];
    else return i;
    for (let k = 1; k < len; k++) {
      const d = b[i + k];
      if (d === undefined || (d & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += len;
  }
  return -1;
}

/**
 * The text of a prompt file's bytes (without a UTF-8 byte-order mark), or a
 * {@link PromptRejectedError} naming `name` and what is wrong (with the byte
 * offset). `truncated`: the reader stopped at the cap, so the file is larger.
 */
export function decodePromptText(bytes: Uint8Array, name: string, truncated = false): string {
  if (truncated || bytes.length > MAX_PROMPT_FILE_BYTES) {
    throw new PromptRejectedError(
      `${name}: larger than ${MAX_PROMPT_FILE_BYTES / 1024} KiB; a prompt is at most 2048 ` +
        "tokens (a few KB), so this is not a prompt file",
    );
  }
  for (const [magic, what] of BINARY_MAGIC) {
    if (magic.every((m, k) => bytes[k] === m)) {
      throw new PromptRejectedError(`${name}: is ${what}, not a text prompt`);
    }
  }
  const bad = invalidUtf8Offset(bytes);
  if (bad >= 0) {
    throw new PromptRejectedError(
      `${name}: not valid UTF-8 at byte offset ${bad} (0x${
        bytes[bad].toString(16).padStart(2, "0")
      }); save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)`,
    );
  }
  // Control characters other than tab, line feed, form feed and carriage return: binary data.
  const ctl = bytes.findIndex((x) => (x < 0x20 && x !== 9 && x !== 10 && x !== 12 && x !== 13));
  if (ctl >= 0) {
    throw new PromptRejectedError(
      `${name}: binary content (control byte 0x${
        bytes[ctl].toString(16).padStart(2, "0")
      } at byte offset ${ctl}), not a text prompt`,
    );
  }
  return new TextDecoder().decode(bytes).replace(/^\uFEFF/, "");
}
