/**
 * The `Range: bytes=…` request header (RFC 9110 §14) for one byte range,
 * which is all the browser platform asks for when it reads checkpoints.
 */

/** Inclusive byte positions, as `Content-Range` writes them. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * What to answer for `header` on a file of `size` bytes:
 * - `undefined`: no usable range (absent, not `bytes`, several ranges,
 *   malformed): send the whole file with 200, as RFC 9110 lets a server do;
 * - `"unsatisfiable"`: answer 416 with `Content-Range: bytes *\/size`;
 * - a {@link ByteRange} within the file: answer 206 with those bytes.
 */
export function parseRange(
  header: string | null,
  size: number,
): ByteRange | "unsatisfiable" | undefined {
  if (header === null) return undefined;
  const m = header.trim().match(/^bytes\s*=\s*(\d*)\s*-\s*(\d*)$/i);
  if (!m || (m[1] === "" && m[2] === "")) return undefined;
  if (m[1] === "") {
    // Suffix range: the last N bytes.
    const n = Number(m[2]);
    if (n === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  if (m[2] !== "" && Number(m[2]) < start) return undefined; // invalid: ignored, not refused
  if (start >= size) return "unsatisfiable";
  return { start, end: m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1) };
}
