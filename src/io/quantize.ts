/**
 * f32 weights → the tensors a checkpoint stores for each weight format (spec
 * §2), laid out as the published checkpoints lay them out, so test models and
 * the embedded default model go through exactly the loader real weights do.
 *
 * - dense: F32 / F16 / BF16 bytes;
 * - nf4: bitsandbytes 4-bit with the NF4 code book, blocks of 64, optional
 *   double quantization of the block scales (bitsandbytes' "compress_statistics");
 * - fp8: e4m3fn with one f32 scale per output row (round to nearest even).
 */
import { f32ToBf16, f32ToF16, fp8e4m3ToF32 } from "../dtype.ts";
import type { TensorMap, WriterTensor } from "./safetensors_writer.ts";

/** bitsandbytes' NF4 code book (the quantiles of N(0,1) scaled to [-1, 1]). */
export const NF4_CODE: Float32Array = Float32Array.from([
  -1.0,
  -0.6961928009986877,
  -0.5250730514526367,
  -0.39491748809814453,
  -0.28444138169288635,
  -0.18477343022823334,
  -0.09105003625154495,
  0.0,
  0.07958029955625534,
  0.16093020141124725,
  0.24611230194568634,
  0.33791524171829224,
  0.44070982933044434,
  0.5626170039176941,
  0.7229568362236023,
  1.0,
]);

/**
 * bitsandbytes' signed 8-bit "dynamic" map (`create_dynamic_map(signed=True)`):
 * for exponent i = 0..6, 2^i values `±10^(i-6) · mean(linspace(0.1, 1))`,
 * plus 0 and 1, sorted. Used to quantize block scales in double quantization.
 */
export function dynamicQuantMap(): Float32Array {
  const data: number[] = [];
  for (let i = 0; i < 7; i++) {
    const items = 2 ** i + 1;
    const scale = 10 ** (i - 6);
    for (let j = 0; j + 1 < items; j++) {
      // f32 like torch.linspace; boundaries j and j+1 of linspace(0.1, 1, items).
      const step = Math.fround(0.9 / (items - 1));
      const lo = Math.fround(0.1 + j * step),
        hi = Math.fround(j + 1 === items - 1 ? 1 : 0.1 + (j + 1) * step);
      const mean = Math.fround((lo + hi) / 2);
      data.push(Math.fround(scale * mean), Math.fround(-scale * mean));
    }
  }
  data.push(0, 1);
  return Float32Array.from(data.sort((a, b) => a - b));
}

/** Dense tensor of `values` stored as F32, F16 or BF16 (round to nearest even). */
export function denseTensor(
  values: Float32Array,
  shape: number[],
  dtype: "F32" | "F16" | "BF16" = "F32",
): WriterTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  if (values.length !== n) {
    throw new Error(`denseTensor: ${values.length} values for shape [${shape.join(", ")}]`);
  }
  if (dtype === "F32") return { dtype, shape, data: new Uint8Array(values.slice().buffer) };
  const bits = new Uint16Array(n);
  const encode = dtype === "F16" ? f32ToF16 : f32ToBf16;
  for (let i = 0; i < n; i++) bits[i] = encode(values[i]);
  return { dtype, shape, data: new Uint8Array(bits.buffer) };
}

/** Raw U8 tensor. */
export function u8Tensor(bytes: Uint8Array, shape = [bytes.byteLength]): WriterTensor {
  return { dtype: "U8", shape, data: bytes };
}

function f32Tensor(values: Float32Array): WriterTensor {
  return denseTensor(values, [values.length], "F32");
}

/** Index of the entry of sorted `code` nearest to `x` (ties to the lower entry). */
function nearestCode(code: Float32Array, x: number): number {
  let lo = 0, hi = code.length - 1;
  if (!(x > code[lo])) return lo;
  if (x >= code[hi]) return hi;
  while (hi - lo > 1) { // code[lo] < x < code[hi] after the checks above
    const mid = (lo + hi) >> 1;
    if (code[mid] < x) lo = mid;
    else hi = mid;
  }
  return x - code[lo] <= code[hi] - x ? lo : hi;
}

/** Max |x| of each `blocksize` run of `values` (the last block may be short). */
function blockAbsMax(values: Float32Array, blocksize: number): Float32Array {
  const out = new Float32Array(Math.ceil(values.length / blocksize));
  for (let i = 0; i < values.length; i++) {
    const b = Math.floor(i / blocksize);
    out[b] = Math.max(out[b], Math.abs(values[i]));
  }
  return out;
}

/** How {@link quantizeNf4} packs weights (bitsandbytes' NF4 layout). */
export interface Nf4Options {
  /** Values per absmax block. Default 64 (what the published checkpoints use). */
  blocksize?: number;
  /** Quantize the absmax values too (U8 + nested absmax/map/offset). Default false. */
  doubleQuant?: boolean;
  /** Absmax values per nested block. Default 256. */
  nestedBlocksize?: number;
  /** Compute dtype recorded in the quant state. Default `"bfloat16"`. */
  dtype?: string;
}

/**
 * The tensors bitsandbytes stores for an NF4 weight `name` (the full key, e.g.
 * `layers.0.attention.qkv.weight`) holding row-major `[out, inF]` `values`:
 * `name` (U8 `[ceil(n/2), 1]`, high nibble first), `name.absmax`,
 * `name.quant_map`, `name.quant_state.bitsandbytes__nf4` (JSON bytes) and,
 * with double quantization, `name.nested_absmax` and `name.nested_quant_map`.
 */
export function quantizeNf4(
  name: string,
  values: Float32Array,
  [out, inF]: [number, number],
  options: Nf4Options = {},
): TensorMap {
  const n = out * inF;
  if (values.length !== n) {
    throw new Error(`quantizeNf4 '${name}': ${values.length} values for [${out}, ${inF}]`);
  }
  const blocksize = options.blocksize ?? 64;
  const absmax = blockAbsMax(values, blocksize);
  // Nearest code, ties to the lower one: bitsandbytes' kernel decides by
  // thresholds halfway between neighbouring codes (`x > t` picks the upper).
  const packed = new Uint8Array(Math.ceil(n / 2));
  for (let i = 0; i < n; i++) {
    const a = absmax[Math.floor(i / blocksize)];
    // Like the CUDA kernel: multiply by the f32 reciprocal of the block's absmax.
    const code = a === 0 ? 7 : nearestCode(NF4_CODE, Math.fround(values[i] * Math.fround(1 / a)));
    packed[i >> 1] |= (i & 1) ? code : code << 4;
  }
  const state: Record<string, unknown> = {
    quant_type: "nf4",
    blocksize,
    dtype: options.dtype ?? "bfloat16",
    shape: [out, inF],
  };
  const tensors: TensorMap = {
    [name]: u8Tensor(packed, [packed.length, 1]),
    [`${name}.quant_map`]: f32Tensor(NF4_CODE),
  };
  if (options.doubleQuant) {
    const nestedBlocksize = options.nestedBlocksize ?? 256;
    const offset = Math.fround(absmax.reduce((s, v) => s + v, 0) / absmax.length);
    const centred = absmax.map((v) => v - offset);
    const nestedAbsmax = blockAbsMax(centred, nestedBlocksize);
    const map = dynamicQuantMap();
    const q = new Uint8Array(absmax.length);
    for (let b = 0; b < absmax.length; b++) {
      const s = nestedAbsmax[Math.floor(b / nestedBlocksize)];
      q[b] = s === 0
        ? nearestCode(map, 0)
        : nearestCode(map, Math.fround(centred[b] * Math.fround(1 / s)));
    }
    tensors[`${name}.absmax`] = u8Tensor(q);
    tensors[`${name}.nested_absmax`] = f32Tensor(nestedAbsmax);
    tensors[`${name}.nested_quant_map`] = f32Tensor(map);
    Object.assign(state, {
      nested_blocksize: nestedBlocksize,
      nested_offset: offset,
      nested_dtype: "float32",
    });
  } else {
    tensors[`${name}.absmax`] = f32Tensor(absmax);
  }
  tensors[`${name}.quant_state.bitsandbytes__nf4`] = u8Tensor(
    new TextEncoder().encode(JSON.stringify(state)),
  );
  return tensors;
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
  [out, inF]: [number, number],
): TensorMap {
  if (values.length !== out * inF) {
    throw new Error(`quantizeFp8 '${name}': ${values.length} values for [${out}, ${inF}]`);
  }
  const scale = new Float32Array(out);
  const bytes = new Uint8Array(out * inF);
  for (let r = 0; r < out; r++) {
    let amax = 0;
    for (let c = 0; c < inF; c++) amax = Math.max(amax, Math.abs(values[r * inF + c]));
    scale[r] = Math.max(Math.fround(amax / FP8_E4M3_MAX), 1e-8);
    for (let c = 0; c < inF; c++) {
      bytes[r * inF + c] = toFp8e4m3(Math.fround(values[r * inF + c] / scale[r]));
    }
  }
  return {
    [name]: { dtype: "F8_E4M3", shape: [out, inF], data: bytes },
    [`${name}_scale`]: f32Tensor(scale),
  };
}
