/**
 * Nearest ×2 of `[H, W, C]` → `[2H, 2W, C]` on the CPU: the reference for
 * `conv2d`'s fused `upsample` option (the VAE decoder's upsamplers).
 */
export function upsampleNearest2xRef(
  x: Float32Array,
  h: number,
  w: number,
  c: number,
): Float32Array {
  const out = new Float32Array(4 * h * w * c);
  for (let y = 0; y < 2 * h; y++) {
    for (let xo = 0; xo < 2 * w; xo++) {
      const src = ((y >> 1) * w + (xo >> 1)) * c, dst = (y * 2 * w + xo) * c;
      for (let ch = 0; ch < c; ch++) out[dst + ch] = x[src + ch];
    }
  }
  return out;
}
