/**
 * Element types of tensors on the GPU and in checkpoints, with the CPU
 * conversions every layer needs (upload, readback, CPU references).
 */

/** Element types a GPU {@link Tensor} can hold. `u8` is packed 4 per word. */
export type DType = "f32" | "f16" | "u32" | "i32" | "u8";

export const DTYPE_BYTES: Record<DType, number> = { f32: 4, f16: 2, u32: 4, i32: 4, u8: 1 };

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** IEEE half (bits) → f32. */
export function f16ToF32(h: number): number {
  const s = (h & 0x8000) ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** f32 → IEEE half bits, round to nearest even (overflow → ±inf). */
export function f32ToF16(v: number): number {
  f32Scratch[0] = v;
  const x = u32Scratch[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rest > mid || (rest === mid && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1))) half++;
  e = half >>> 10;
  return sign | half;
}

/** bfloat16 (bits) → f32: the top half of an f32. */
export function bf16ToF32(b: number): number {
  u32Scratch[0] = (b & 0xffff) << 16;
  return f32Scratch[0];
}

/** f32 → bfloat16 bits, round to nearest even. */
export function f32ToBf16(v: number): number {
  f32Scratch[0] = v;
  const x = u32Scratch[0];
  if ((x & 0x7fffffff) > 0x7f800000) return (x >>> 16) | 0x40; // keep NaN a NaN
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/**
 * float8 e4m3fn (bits) → f32: bias 7, no infinities, `S.1111.111` is NaN,
 * exponent 0 is subnormal `m/8 · 2^-6`.
 */
export function fp8e4m3ToF32(b: number): number {
  const s = (b & 0x80) ? -1 : 1;
  const e = (b >> 3) & 0xf;
  const m = b & 7;
  if (e === 15 && m === 7) return NaN;
  if (e === 0) return s * (m / 8) * 2 ** -6;
  return s * (1 + m / 8) * 2 ** (e - 7);
}

/** f32 → nearest e4m3fn bits (saturating at ±448), for building test checkpoints. */
export function f32ToFp8e4m3(v: number): number {
  if (Number.isNaN(v)) return 0x7f;
  const sign = v < 0 ? 0x80 : 0;
  const a = Math.min(Math.abs(v), 448);
  let best = 0;
  let bestErr = Infinity;
  for (let b = 0; b < 127; b++) { // 127 = 0x7f is NaN
    const err = Math.abs(fp8e4m3ToF32(b) - a);
    if (err < bestErr || (err === bestErr && (b & 1) === 0)) {
      best = b;
      bestErr = err;
    }
  }
  return sign | best;
}
