/** CPU reference for `copy_rows.ts` (values only; dtype rounding is the caller's). */

/** `dst[dstRow0 + r, :] = src[srcRow0 + r, :]` for `r < rows`, rows of `cols`; returns `dst`. */
export function copyRowsRef(
  src: Float32Array,
  srcRow0: number,
  dst: Float32Array,
  dstRow0: number,
  rows: number,
  cols: number,
): Float32Array {
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) dst[(dstRow0 + r) * cols + c] = src[(srcRow0 + r) * cols + c];
  }
  return dst;
}
