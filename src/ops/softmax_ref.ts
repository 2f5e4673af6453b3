/** CPU reference for `softmax.ts`, in f64 arithmetic, over rows of `cols` values. */
export function softmaxRef(x: Float32Array, cols: number, scale = 1): Float32Array {
  const out = new Float32Array(x.length);
  for (let base = 0; base < x.length; base += cols) {
    let m = -Infinity;
    for (let c = 0; c < cols; c++) m = Math.max(m, scale * x[base + c]);
    let s = 0;
    for (let c = 0; c < cols; c++) s += Math.exp(scale * x[base + c] - m);
    for (let c = 0; c < cols; c++) out[base + c] = Math.exp(scale * x[base + c] - m) / s;
  }
  return out;
}
