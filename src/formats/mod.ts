/**
 * The registry of Linear weight formats: one record per format
 * ({@link LinearFormat}, one file each), and the operations everything else
 * performs on any host weight through them — detection, the bf16-reference
 * decode, the GPU variant and the shader's format constants, the row-band
 * split into parts under the binding limit, row slices, the CPU dequantizer.
 *
 * Adding a format: a new file implementing {@link LinearFormat}, its line in
 * {@link LINEAR_FORMATS}, and its branch in `shaders/linear.wgsl`.
 */
import type { TensorMap } from "../io/safetensors_writer.ts";
import type { TensorStore } from "../io/tensor_store.ts";
import { DENSE, type DenseHostLinear } from "./dense.ts";
import { FP8, type Fp8HostLinear } from "./fp8.ts";
import { INT8, type Int8HostLinear } from "./int8.ts";
import type { GpuVariant, LinearArrays, LinearFormat } from "./linear_format.ts";
import { NF4, type Nf4HostLinear } from "./nf4.ts";

/** Every Linear weight format, in detection order. */
export const LINEAR_FORMATS = [DENSE, NF4, FP8, INT8] as const;

/** A Linear weight on the host in one of the stored formats, ready to upload. */
export type HostLinear = DenseHostLinear | Nf4HostLinear | Fp8HostLinear | Int8HostLinear;
/** A Linear weight's stored format: `"dense"`, `"nf4"`, `"fp8"`, `"int8"`. */
export type LinearFormatName = HostLinear["format"];
/**
 * How the GEMM decodes a weight (the shader's `FORMAT`): `f32`, `f16`,
 * `bf16`, `nf4`, `fp8`, `int8`, and `fp8_bf16` / `nf4_bf16`, which decode as
 * the bf16 reference does (values rounded to bf16 after scaling).
 */
export type LinearGpuFormat =
  | "f32"
  | "f16"
  | "bf16"
  | "nf4"
  | "nf4_bf16"
  | "fp8"
  | "fp8_bf16"
  | "int8";

// The two unions above name exactly the records' host types and variants
// (spelled out for the documentation; checked here at compile time).
type AnyFormat = typeof LINEAR_FORMATS[number];
type HostOf<F> = F extends LinearFormat<infer W, infer _V, infer _O> ? W : never;
type VariantOf<F> = F extends LinearFormat<infer _W, infer V, infer _O> ? V : never;
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const _unionsMatch: [
  Same<HostLinear, HostOf<AnyFormat>>,
  Same<LinearGpuFormat, VariantOf<AnyFormat>>,
] = [true, true];

/** Every GPU variant by name (codes are unique; checked by the tests). */
export const GPU_VARIANTS: Readonly<Record<LinearGpuFormat, GpuVariant>> = Object.assign(
  {},
  ...LINEAR_FORMATS.map((f) => f.gpuVariants),
);

/** The record of `w`'s format. */
export function formatOf(w: HostLinear): LinearFormat<HostLinear, LinearGpuFormat> {
  // The union of records is called with its own member's weight: a correlated
  // union TypeScript cannot follow, hence the cast.
  return LINEAR_FORMATS.find((f) => f.name === w.format) as unknown as LinearFormat<
    HostLinear,
    LinearGpuFormat
  >;
}

/** The record of format `name`. */
export function linearFormatNamed(name: LinearFormatName): LinearFormat<HostLinear> {
  return LINEAR_FORMATS.find((f) => f.name === name) as unknown as LinearFormat<HostLinear>;
}

/** Which format Linear weight `name` is stored in, from the tensors present (reads nothing). */
export function detectLinearFormat(
  store: TensorStore,
  name: string,
): LinearFormat<HostLinear, LinearGpuFormat> {
  const info = store.info(name);
  for (const f of LINEAR_FORMATS) {
    if (f.detect(store, info)) return f as unknown as LinearFormat<HostLinear, LinearGpuFormat>;
  }
  throw new Error(`${info.file}: weight '${name}' is ${info.dtype}, not a Linear weight format`);
}

/** `w` set to decode as the bf16 reference does (see each format; dense and int8 unchanged). */
export function torchBf16Decode(w: HostLinear): HostLinear {
  return formatOf(w).torchBf16(w);
}

/** The shader variant a host weight is uploaded as. */
export function gpuFormat(w: HostLinear): LinearGpuFormat {
  return formatOf(w).gpuVariant(w);
}

/** Values per aux-table block of `w` (nf4's blocksize; 0 for per-row or no scales). */
export function linearBlockSize(w: HostLinear): number {
  return formatOf(w).blockSize(w);
}

/**
 * The shader's format constants: `FORMAT_<VARIANT>` for every variant (so
 * `linear.wgsl` branches on names) and `FORMAT` / `EPW` for `format`.
 */
export function linearFormatConsts(format: LinearGpuFormat): Record<string, number> {
  const consts: Record<string, number> = {};
  for (const [name, v] of Object.entries(GPU_VARIANTS)) {
    consts[`FORMAT_${name.toUpperCase()}`] = v.code;
  }
  consts.FORMAT = GPU_VARIANTS[format].code;
  consts.EPW = GPU_VARIANTS[format].elementsPerWord;
  return consts;
}

/** Output rows `[row0, row0 + rows)` of `w`, still in its format (views; see `sliceRows`). */
export function sliceHostLinearRows(
  w: HostLinear,
  row0: number,
  rows: number,
  what: string,
): HostLinear {
  return formatOf(w).sliceRows(w, row0, rows, what);
}

/** Dense f32 `[out, in]` of `w`: the CPU reference of the GEMM's decoding. */
export function dequantizeRef(w: HostLinear): Float32Array {
  return formatOf(w).dequantize(w);
}

/** Writes `values` as format `format` with its default options (dense: F32). */
export function quantizeLinear(
  format: LinearFormatName,
  name: string,
  values: Float32Array,
  shape: [number, number],
): TensorMap {
  return linearFormatNamed(format).quantize(name, values, shape);
}

/** One band of output rows of a host weight: what one GPU part holds. */
export interface HostLinearPart extends LinearArrays {
  /** First output row. */
  row0: number;
  /** Rows in the band. */
  rows: number;
}

/** Rows of a part are a multiple of this when a weight is cut (nf4 blocks, words never straddle). */
export const PART_ROWS_MULTIPLE = 256;

/**
 * `w` cut into bands of output rows whose packed bytes fit in `limit` bytes
 * (a storage binding): as many rows per part as fit, a multiple of
 * {@link PART_ROWS_MULTIPLE} when cut. One part when the weight fits.
 */
export function hostLinearParts(w: HostLinear, limit: number, label: string): HostLinearPart[] {
  const f = formatOf(w);
  const { out, in: k } = w;
  let rowsPerPart = Math.floor((limit * 8) / (k * f.bitsPerElement(w)));
  if (rowsPerPart < out) {
    rowsPerPart = Math.floor(rowsPerPart / PART_ROWS_MULTIPLE) * PART_ROWS_MULTIPLE;
  }
  if (rowsPerPart < 1) {
    throw new Error(
      `linear '${label}': ${PART_ROWS_MULTIPLE} rows of [${out}, ${k}] ${f.gpuVariant(w)} ` +
        `exceed the buffer limit of ${limit} bytes`,
    );
  }
  const parts: HostLinearPart[] = [];
  for (let row0 = 0; row0 < out; row0 += rowsPerPart) {
    const rows = Math.min(rowsPerPart, out - row0);
    parts.push({ row0, rows, ...f.gpuArrays(f.sliceRows(w, row0, rows, `linear '${label}'`)) });
  }
  return parts;
}

export type { GpuVariant, HostLinearBase, LinearArrays, LinearFormat } from "./linear_format.ts";
export { roundBf16 } from "./linear_format.ts";
