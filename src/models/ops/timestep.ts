/**
 * The DiT's sinusoidal time embedding, on the CPU in float64: it is one
 * vector per sampling step, uploaded as the input of `t_embedding.mlp_in`.
 *
 * `sinusoidEmbedding(s, d)`: `half = floor(d / 2)`, `f_k = exp(-k · ln(base) / (half - 1))`,
 * output `[sin(s·f_0), …, sin(s·f_{half-1}), cos(s·f_0), …, cos(s·f_{half-1})]`,
 * plus a trailing 0 when `d` is odd (as the reference pads). The DiT calls it
 * with `s = 1e4 · t` for `t` in [0, 1] and `d = 4608` (spec §4).
 */
export function sinusoidEmbedding(s: number, dim: number, base = 1e4): Float32Array {
  const half = Math.floor(dim / 2);
  if (!Number.isInteger(dim) || half < 2) {
    throw new Error(`sinusoidEmbedding: dimension ${dim} must be an integer ≥ 4`);
  }
  const step = Math.log(base) / (half - 1);
  const out = new Float32Array(dim);
  for (let k = 0; k < half; k++) {
    const angle = s * Math.exp(-k * step);
    out[k] = Math.sin(angle);
    out[half + k] = Math.cos(angle);
  }
  return out;
}
