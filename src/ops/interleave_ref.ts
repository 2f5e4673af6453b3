/** CPU reference for `interleave.ts`: `out[r, c * n + s] = sources[s][r, c]`. */
export function interleaveRef(sources: readonly Float32Array[], cols: number): Float32Array {
  const n = sources.length, rows = sources[0].length / cols;
  const out = new Float32Array(rows * cols * n);
  for (let s = 0; s < n; s++) {
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) out[(r * cols + c) * n + s] = sources[s][r * cols + c];
    }
  }
  return out;
}
