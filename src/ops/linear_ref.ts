/**
 * CPU reference of `linear.ts`: `Y = X · Wᵀ (+ bias)` in float64 over the
 * weight dequantised by `dequantizeRef` (what the kernel must decode to).
 */
import { dequantizeRef, type HostLinear } from "../formats/mod.ts";

/** `x` is `[M, K]` row-major; returns `[M, N]`. */
export function linearRef(
  x: Float32Array,
  m: number,
  w: HostLinear,
  bias?: Float32Array,
): Float32Array {
  const { out: n, in: k } = w;
  if (x.length !== m * k) throw new Error(`linearRef: x has ${x.length} values, not ${m}×${k}`);
  const wd = dequantizeRef(w);
  const y = new Float32Array(m * n);
  for (let r = 0; r < m; r++) {
    for (let c = 0; c < n; c++) {
      let s = bias ? bias[c] : 0;
      for (let i = 0; i < k; i++) s += x[r * k + i] * wd[c * k + i];
      y[r * n + c] = s;
    }
  }
  return y;
}
