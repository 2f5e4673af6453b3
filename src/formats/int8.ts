/**
 * Symmetric per-row int8: `[out, in]` signed bytes (safetensors `I8`) with
 * one f32 scale per output row in `<module>.weight_scale` (F32 `[out]`, the
 * fp8 layout), decoded as `q · scale[row]` in f32. The quantizer maps each
 * row's largest |value| to 127 and rounds to nearest (ties to even), so -128
 * is never written (but decodes if a file holds it). No released checkpoint
 * uses it; there is no bf16-rounded variant.
 */
import type { TensorMap } from "../io/safetensors_writer.ts";
import type { LinearFormat } from "./linear_format.ts";
import {
  dequantizeRowScaled,
  loadRowScaled,
  quantizeRowScaled,
  rowScaledArrays,
  sliceRowScaled,
} from "./row_scaled.ts";

/** Symmetric int8 with one f32 scale per output row. */
export interface Int8HostLinear {
  /** Discriminant. */
  format: "int8";
  /** Output features (rows). */
  out: number;
  /** Input features (columns). */
  in: number;
  /** `out*in` two's-complement bytes, row-major. */
  bytes: Uint8Array;
  /** `[out]` row scales. */
  scale: Float32Array;
}

/** The stored byte `b` as a signed value. */
export function int8Value(b: number): number {
  return (b << 24) >> 24;
}

/** `v` rounded to the nearest integer (ties to even), clamped to ±127, as a byte. */
export function toInt8(v: number): number {
  const f = Math.floor(v), d = v - f;
  const r = d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
  return Math.max(-127, Math.min(127, r)) & 0xff;
}

/** The tensors of an int8 Linear: `name` (I8 `[out, in]`) and `name + "_scale"` (F32 `[out]`). */
export function quantizeInt8(
  name: string,
  values: Float32Array,
  shape: [number, number],
): TensorMap {
  return quantizeRowScaled("quantizeInt8", name, values, shape, "I8", 127, toInt8);
}

/** int8 × row scale. */
export const INT8: LinearFormat<Int8HostLinear, "int8"> = {
  name: "int8",
  gpuVariants: { int8: { code: 7, elementsPerWord: 4 } },
  detect: (_store, info) => info.dtype === "I8",
  storedShape: (_store, info) => Promise.resolve(info.shape),
  async load(store, info, expected) {
    return { format: "int8", ...await loadRowScaled(store, info, expected) };
  },
  torchBf16: (w) => w,
  gpuVariant: () => "int8",
  blockSize: () => 0,
  bitsPerElement: () => 8,
  sliceRows: sliceRowScaled,
  gpuArrays: rowScaledArrays,
  dequantize: (w) => dequantizeRowScaled(w, int8Value),
  quantize: quantizeInt8,
};
