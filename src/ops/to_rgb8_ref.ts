/** CPU reference for `to_rgb8.ts`. */

/** Rounds half to even (torch.round, WGSL `round`). */
export function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** `round((clamp(y, -1, 1) + 1) · 127.5)` per value, as bytes. */
export function toRgb8Ref(y: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(y.length);
  for (let i = 0; i < y.length; i++) {
    // f32 arithmetic, as the kernel: a half-way case must round the same way.
    const c = Math.min(1, Math.max(-1, Math.fround(y[i])));
    out[i] = roundHalfEven(Math.fround(Math.fround(c + 1) * 127.5));
  }
  return out;
}
