/** CPU reference for `embedding.ts`: element-wise decoding, no typed-array tricks. */
import { bf16ToF32, f16ToF32 } from "../dtype.ts";
import type { HostTableDType } from "./embedding.ts";

/** Row `id` of a `[rows, dim]` f32 table, for each id (ids outside the table give zeros). */
export function embeddingRef(
  table: Float32Array,
  dim: number,
  ids: ArrayLike<number>,
): Float32Array {
  const rows = table.length / dim, out = new Float32Array(ids.length * dim);
  for (let i = 0; i < ids.length; i++) {
    if (ids[i] < rows) out.set(table.subarray(ids[i] * dim, (ids[i] + 1) * dim), i * dim);
  }
  return out;
}

/** Decodes a whole stored table `[rows, dim]` to f32 through a DataView. */
export function decodeTableRef(bytes: Uint8Array, dtype: HostTableDType, n: number): Float32Array {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Float32Array.from(
    { length: n },
    (_, i) =>
      dtype === "f32"
        ? dv.getFloat32(4 * i, true)
        : dtype === "f16"
        ? f16ToF32(dv.getUint16(2 * i, true))
        : bf16ToF32(dv.getUint16(2 * i, true)),
  );
}
