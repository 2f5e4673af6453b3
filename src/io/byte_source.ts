/**
 * Pieces every {@link ByteSource} shares: the bounds check that turns a bad
 * read into an error naming the file, and a source over bytes already in
 * memory (test checkpoints, an embedded model, a fetched whole file).
 */
import type { ByteSource } from "../platform/types.ts";

/** Throws unless `[offset, offset + length)` lies inside a `size`-byte file `name`. */
export function checkReadRange(name: string, size: number, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new RangeError(`${name}: invalid read of ${length} bytes at offset ${offset}`);
  }
  if (offset + length > size) {
    throw new RangeError(
      `${name}: read of ${length} bytes at offset ${offset} goes past the end of the file ` +
        `(${size} bytes)`,
    );
  }
}

/** Throws the error every platform gives for an empty file passed to `open`. */
export function rejectEmpty(name: string, size: number): void {
  if (size === 0) throw new Error(`${name}: file is empty (0 bytes), nothing to read`);
}

/**
 * A {@link ByteSource} over `bytes`. Reads return views (no copy), like a
 * mapped file, so tests exercise the same aliasing as the mmap path.
 */
export function memorySource(name: string, bytes: Uint8Array): ByteSource {
  let open = true;
  return {
    name,
    size: bytes.byteLength,
    kind: "memory",
    read(offset: number, length: number): Promise<Uint8Array> {
      if (!open) return Promise.reject(new Error(`${name}: read after close`));
      try {
        checkReadRange(name, bytes.byteLength, offset, length);
      } catch (e) {
        return Promise.reject(e);
      }
      return Promise.resolve(bytes.subarray(offset, offset + length));
    },
    close() {
      open = false;
    },
  };
}
