/** CPU reference for `norm.ts`, in f64 arithmetic, over rows of `cols` values. */

export interface NormRefOptions {
  /** LayerNorm (subtract the mean) instead of RMSNorm. */
  layer?: boolean;
  weight?: Float32Array;
  /** Epilogue `n * (1 + scale[c])`. */
  scale?: Float32Array;
  /** Epilogue `residual + tanh(gate[c]) * n` (both must be given). */
  residual?: Float32Array;
  gate?: Float32Array;
}

export function normRef(
  x: Float32Array,
  cols: number,
  eps: number,
  o: NormRefOptions = {},
): Float32Array {
  const out = new Float32Array(x.length);
  for (let base = 0; base < x.length; base += cols) {
    let mean = 0;
    if (o.layer) {
      for (let c = 0; c < cols; c++) mean += x[base + c];
      mean /= cols;
    }
    let ss = 0;
    for (let c = 0; c < cols; c++) ss += (x[base + c] - mean) ** 2;
    const inv = 1 / Math.sqrt(ss / cols + eps);
    for (let c = 0; c < cols; c++) {
      let y = (x[base + c] - mean) * inv;
      if (o.weight) y *= o.weight[c];
      if (o.scale) y *= 1 + o.scale[c];
      if (o.gate && o.residual) y = o.residual[base + c] + Math.tanh(o.gate[c]) * y;
      out[base + c] = y;
    }
  }
  return out;
}
