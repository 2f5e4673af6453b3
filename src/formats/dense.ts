/**
 * Dense Linear weights: F32, F16 or BF16 `[out, in]` as stored. They stay in
 * their dtype on the GPU (bf16 is decoded in the GEMM), so f16 and bf16
 * weights cost 2 bytes a value there as on disk.
 */
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from "../dtype.ts";
import type { WriterTensor } from "../io/safetensors_writer.ts";
import type { TensorInfo, TensorStore } from "../io/tensor_store.ts";
import { check2d, checkRows, checkShape, type LinearFormat } from "./linear_format.ts";

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

const BYTES = { f32: 4, f16: 2, bf16: 2 } as const;

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

/** How {@link DENSE} writes a weight. */
export interface DenseOptions {
  /** Stored dtype (default F32). */
  dtype?: "F32" | "F16" | "BF16";
}

function dtypeOf(info: TensorInfo): DenseHostLinear["dtype"] | undefined {
  return info.dtype === "F32"
    ? "f32"
    : info.dtype === "F16"
    ? "f16"
    : info.dtype === "BF16"
    ? "bf16"
    : undefined;
}

/** Dense F32 / F16 / BF16, decoded exactly (the GPU variants `f32`, `f16`, `bf16`). */
export const DENSE: LinearFormat<DenseHostLinear, "f32" | "f16" | "bf16", DenseOptions> = {
  name: "dense",
  gpuVariants: {
    f32: { code: 0, elementsPerWord: 1 },
    f16: { code: 1, elementsPerWord: 2 },
    bf16: { code: 2, elementsPerWord: 2 },
  },
  detect: (_store: TensorStore, info: TensorInfo) => dtypeOf(info) !== undefined,
  storedShape: (_store, info) => Promise.resolve(info.shape),
  async load(store, info, expected) {
    const [out, inF] = check2d(info, info.shape);
    if (expected) checkShape(info, info.shape, expected);
    const dtype = dtypeOf(info)!;
    return { format: "dense", dtype, out, in: inF, bytes: await store.bytes(info.name) };
  },
  // bf16 weights are bf16 already; the reference casts f32 / f16 ones to bf16
  // on load, which a checkpoint in the released formats never needs.
  torchBf16: (w) => w,
  gpuVariant: (w) => w.dtype,
  blockSize: () => 0,
  bitsPerElement: (w) => 8 * BYTES[w.dtype],
  sliceRows(w, row0, rows, what) {
    checkRows(w, row0, rows, what);
    const bpe = BYTES[w.dtype], e0 = row0 * w.in, e1 = (row0 + rows) * w.in;
    return { ...w, out: rows, bytes: w.bytes.subarray(e0 * bpe, e1 * bpe) };
  },
  gpuArrays: (w) => ({ weight: w.bytes }),
  dequantize(w) {
    const n = w.out * w.in;
    const out = new Float32Array(n);
    const dv = new DataView(w.bytes.buffer, w.bytes.byteOffset, w.bytes.byteLength);
    for (let i = 0; i < n; i++) {
      out[i] = w.dtype === "f32"
        ? dv.getFloat32(i * 4, true)
        : w.dtype === "f16"
        ? f16ToF32(dv.getUint16(i * 2, true))
        : bf16ToF32(dv.getUint16(i * 2, true));
    }
    return out;
  },
  quantize: (name, values, shape, o = {}) => ({ [name]: denseTensor(values, shape, o.dtype) }),
};
