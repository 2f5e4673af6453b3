/** CPU reference for `unpatchify.ts`, written token-major (the kernel is pixel-major). */

/**
 * `z` `[gh·gw, 128]`, `scale`/`shift` `[128]` → `[2gh, 2gw, 32]` channels-last:
 * token (gy, gx) channel `k = (py·2+px)·32 + c` goes to pixel (2gy+py, 2gx+px)
 * channel c as `z·scale[k] + shift[k]` (float64 arithmetic, stored as f32).
 */
export function unpatchifyRef(
  z: ArrayLike<number>,
  gh: number,
  gw: number,
  scale: ArrayLike<number>,
  shift: ArrayLike<number>,
): Float32Array<ArrayBuffer> {
  if (z.length !== gh * gw * 128 || scale.length !== 128 || shift.length !== 128) {
    throw new Error(`unpatchifyRef: ${z.length} values for a ${gh}×${gw} grid of 128 channels`);
  }
  const out = new Float32Array(gh * gw * 128);
  const width = 2 * gw;
  for (let gy = 0; gy < gh; gy++) {
    for (let gx = 0; gx < gw; gx++) {
      for (let k = 0; k < 128; k++) {
        const py = k >> 6, px = (k >> 5) & 1, c = k & 31;
        const y = 2 * gy + py, x = 2 * gx + px;
        out[(y * width + x) * 32 + c] = z[(gy * gw + gx) * 128 + k] * scale[k] + shift[k];
      }
    }
  }
  return out;
}
