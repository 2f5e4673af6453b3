/**
 * Weight-only fp8: e4m3fn bytes `[out, in]` with one f32 scale per output
 * row in `<module>.weight_scale` (the released fp8 checkpoint's layout).
 *
 * The reference decodes in its compute dtype, bf16: `weight.to(bf16) *
 * weight_scale.to(bf16)`, so each row scale is rounded to bf16 (a per-row
 * gain error of up to 2^-9 ≈ 0.2 %, 0.4 % between neighbouring values) and
 * each decoded value is rounded to bf16 again. The `fp8_bf16` GPU variant
 * decodes exactly that way (`torchBf16`); `fp8` as `fp8 · scale` in f32.
 */
import { fp8e4m3ToF32 } from "../dtype.ts";
import type { TensorMap } from "../io/safetensors_writer.ts";
import { type LinearFormat, roundBf16 } from "./linear_format.ts";
import {
  dequantizeRowScaled,
  loadRowScaled,
  quantizeRowScaled,
  rowScaledArrays,
  sliceRowScaled,
} from "./row_scaled.ts";

/** Weight-only fp8 e4m3fn with one f32 scale per output row. */
export interface Fp8HostLinear {
  /** Discriminant. */
  format: "fp8";
  /** Output features (rows). */
  out: number;
  /** Input features (columns). */
  in: number;
  /** `out*in` e4m3fn bytes, row-major. */
  bytes: Uint8Array;
  /** `[out]` row scales as decoding uses them: `weight_scale`, bf16-rounded when `torchBf16`. */
  scale: Float32Array;
  /** Decode as the bf16 reference does: `bf16(fp8 · scale)` with `scale` already bf16. */
  torchBf16?: boolean;
}

/** Largest finite e4m3fn magnitude. */
export const FP8_E4M3_MAX = 448;

/** e4m3fn codes 0..126 decode to increasing non-negative values (127 is NaN). */
const FP8_POSITIVE = Float64Array.from({ length: 127 }, (_, b) => fp8e4m3ToF32(b));

/** f32 → nearest e4m3fn bits, ties to even, saturating at ±448 (same result as `f32ToFp8e4m3`, fast). */
export function toFp8e4m3(v: number): number {
  if (Number.isNaN(v)) return 0x7f;
  const sign = v < 0 ? 0x80 : 0;
  const a = Math.abs(v);
  if (a >= FP8_E4M3_MAX) return sign | 126;
  let lo = 0, hi = 126; // FP8_POSITIVE[lo] <= a < FP8_POSITIVE[hi]
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (FP8_POSITIVE[mid] <= a) lo = mid;
    else hi = mid;
  }
  const dLo = a - FP8_POSITIVE[lo], dHi = FP8_POSITIVE[hi] - a;
  return sign | (dLo < dHi || (dLo === dHi && (lo & 1) === 0) ? lo : hi);
}

/**
 * The tensors of a weight-only fp8 Linear: `name` (F8_E4M3 `[out, inF]`) and
 * `name + "_scale"` (F32 `[out]`, i.e. `<module>.weight_scale`), with each
 * row scaled so its largest |value| maps to 448.
 */
export function quantizeFp8(
  name: string,
  values: Float32Array,
  shape: [number, number],
): TensorMap {
  return quantizeRowScaled("quantizeFp8", name, values, shape, "F8_E4M3", FP8_E4M3_MAX, toFp8e4m3);
}

/** fp8 e4m3fn × row scale, plain (`fp8`) or as the bf16 reference (`fp8_bf16`). */
export const FP8: LinearFormat<Fp8HostLinear, "fp8" | "fp8_bf16"> = {
  name: "fp8",
  gpuVariants: {
    fp8: { code: 4, elementsPerWord: 4 },
    fp8_bf16: { code: 5, elementsPerWord: 4 },
  },
  detect: (_store, info) => info.dtype === "F8_E4M3",
  storedShape: (_store, info) => Promise.resolve(info.shape),
  async load(store, info, expected) {
    return { format: "fp8", ...await loadRowScaled(store, info, expected) };
  },
  // A new scale array: the original may be a view over a file.
  torchBf16: (w) => w.torchBf16 ? w : { ...w, scale: w.scale.map(roundBf16), torchBf16: true },
  gpuVariant: (w) => w.torchBf16 ? "fp8_bf16" : "fp8",
  blockSize: () => 0,
  bitsPerElement: () => 8,
  sliceRows: sliceRowScaled,
  gpuArrays: rowScaledArrays,
  dequantize: (w) => dequantizeRowScaled(w, fp8e4m3ToF32, w.torchBf16 ? roundBf16 : undefined),
  quantize: quantizeFp8,
};
