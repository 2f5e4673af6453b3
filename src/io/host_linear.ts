/**
 * A Linear layer's weight as read from a checkpoint, still on the host and
 * still in its stored format. The loader (`src/io/`) produces these; the GEMM
 * (`src/ops/linear.ts`) uploads them and decodes them inside its kernel.
 * Shape is always `[out, in]` (PyTorch Linear layout, `Y = X · Wᵀ`).
 */
import { bf16ToF32, f16ToF32, f32ToBf16, fp8e4m3ToF32 } from "../dtype.ts";

/** A dense Linear weight `[out, in]` as stored. */
export interface DenseHostLinear {
  /** Discriminant. */
  format: "dense";
  /** Stored element type; bf16 stays bf16 on the GPU (decoded in the GEMM). */
  dtype: "f32" | "f16" | "bf16";
  /** Output features (rows). */
  out: number;
  /** Input features (columns). */
  in: number;
  /** Row-major `[out, in]` raw little-endian bytes (may be a view over a mapped file). */
  bytes: Uint8Array;
}

/** bitsandbytes NF4: two 4-bit codes per byte, high nibble first. */
export interface Nf4HostLinear {
  /** Discriminant. */
  format: "nf4";
  /** Output features (rows). */
  out: number;
  /** Input features (columns). */
  in: number;
  /** `out*in/2` bytes; byte j holds value 2j (high nibble) and 2j+1 (low nibble). */
  packed: Uint8Array;
  /**
   * One scale per block of `blocksize` consecutive values (row-major over the
   * flattened weight). Double-quantized checkpoints are resolved to f32 here
   * (`nested_quant_map[u8] * nested_absmax[b / nested_blocksize] + nested_offset`).
   */
  absmax: Float32Array;
  /** The 16-entry code book (`quant_map`). */
  quantMap: Float32Array;
  /** Values per absmax block. */
  blocksize: number;
  /**
   * Decode as the bf16 reference does: bitsandbytes dequantizes to the
   * compute dtype, so each `quant_map[code] · absmax` is rounded to bf16
   * (the absmax stays f32).
   */
  torchBf16?: boolean;
}

/**
 * Weight-only fp8 e4m3fn with one f32 scale per output row.
 *
 * The reference decodes in its compute dtype, bf16: `weight.to(bf16) *
 * weight_scale.to(bf16)`, so each row scale is rounded to bf16 (a per-row
 * gain error of up to 2^-9 ≈ 0.2 %, 0.4 % between neighbouring values) and
 * each decoded value is rounded to bf16 again. With `torchBf16` this weight
 * decodes exactly that way ({@link fp8TorchBf16}); without, as
 * `fp8 · scale` in f32.
 */
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

/** A Linear weight on the host in one of the stored formats, ready to upload. */
export type HostLinear = DenseHostLinear | Nf4HostLinear | Fp8HostLinear;

/** `v` rounded to the nearest bfloat16 (ties to even), as an f32 value. */
export function roundBf16(v: number): number {
  return bf16ToF32(f32ToBf16(v));
}

/**
 * Weight `w` set to decode as the bf16 reference does: fp8 row scales
 * rounded to bf16 (a new array; the original may be a view over a file) and
 * fp8 or nf4 values rounded to bf16 after scaling (see {@link Fp8HostLinear},
 * {@link Nf4HostLinear}). Dense weights are returned as they are (bf16
 * weights are bf16 already; the reference casts f32 / f16 ones to bf16 on
 * load, which a checkpoint in the released formats never needs).
 */
export function torchBf16Decode(w: HostLinear): HostLinear {
  if (w.format === "dense" || w.torchBf16) return w;
  if (w.format === "nf4") return { ...w, torchBf16: true };
  return { ...w, scale: w.scale.map(roundBf16), torchBf16: true };
}

/**
 * Expands a host weight to dense f32 `[out, in]` — the CPU reference of what
 * the GEMM's in-kernel decoding must produce. Never used on the GPU path.
 */
export function dequantizeRef(w: HostLinear): Float32Array {
  const n = w.out * w.in;
  const out = new Float32Array(n);
  switch (w.format) {
    case "dense": {
      const dv = new DataView(w.bytes.buffer, w.bytes.byteOffset, w.bytes.byteLength);
      for (let i = 0; i < n; i++) {
        out[i] = w.dtype === "f32"
          ? dv.getFloat32(i * 4, true)
          : w.dtype === "f16"
          ? f16ToF32(dv.getUint16(i * 2, true))
          : bf16ToF32(dv.getUint16(i * 2, true));
      }
      return out;
    }
    case "nf4":
      for (let i = 0; i < n; i++) {
        const byte = w.packed[i >> 1];
        const code = (i & 1) ? byte & 0xf : byte >> 4;
        const v = w.quantMap[code] * w.absmax[Math.floor(i / w.blocksize)];
        out[i] = w.torchBf16 ? roundBf16(v) : v;
      }
      return out;
    case "fp8":
      for (let i = 0; i < n; i++) {
        const v = fp8e4m3ToF32(w.bytes[i]) * w.scale[Math.floor(i / w.in)];
        out[i] = w.torchBf16 ? roundBf16(v) : v;
      }
      return out;
  }
}
