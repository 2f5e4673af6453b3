/**
 * What one Linear weight format is, as a record: the {@link LinearFormat}
 * interface every format module (`dense.ts`, `nf4.ts`, `fp8.ts`, `int8.ts`)
 * implements, and the checks their loaders share. Everything that handles a
 * Linear weight — the loader, the GPU upload and its row-band split, the
 * streamed DiT, the CPU reference, the tiny checkpoint writers — reads these
 * records through the registry (`mod.ts`) instead of switching on a format
 * name, so a format is defined in one file (as web-rwkv's `Matrix` enum).
 *
 * Layer: below `io/linear_loader.ts` and `ops/linear.ts`, above the
 * safetensors readers whose types it names (`io/tensor_store.ts`,
 * `io/safetensors_writer.ts`, which import nothing but `dtype.ts`).
 * Shape is always `[out, in]` (PyTorch Linear layout, `Y = X · Wᵀ`).
 */
import { bf16ToF32, f32ToBf16 } from "../dtype.ts";
import type { TensorMap } from "../io/safetensors_writer.ts";
import { numelOf, shapeText, type TensorInfo, type TensorStore } from "../io/tensor_store.ts";

/** The fields every host weight has, whatever its format. */
export interface HostLinearBase {
  /** The format's name (the discriminant of `HostLinear`). */
  format: string;
  /** Output features (rows). */
  out: number;
  /** Input features (columns). */
  in: number;
}

/**
 * One way the GEMM kernel (`shaders/linear.wgsl`) decodes weight words: its
 * `FORMAT` constant and how many weight elements a 32-bit word holds (`EPW`).
 * A format has one variant per decoding (dense has one per dtype; fp8 and nf4
 * a second one rounding to bf16 as the bf16 reference does).
 */
export interface GpuVariant {
  /** The shader's `FORMAT` code (named `FORMAT_<NAME>` in the shader header). */
  code: number;
  /** Weight elements per 32-bit word. */
  elementsPerWord: number;
}

/**
 * A band of output rows of a weight as the GPU holds it: the packed weight
 * bytes (a view, never copied) and the decode table the kernel reads as
 * `aux` (nf4 `quant_map[16]` + absmax, fp8 / int8 row scales; none for dense).
 */
export interface LinearArrays {
  /** Packed weight bytes, row-major. */
  weight: Uint8Array;
  /** f32 decode table (a new array), when the format has one. */
  aux?: Float32Array;
}

/**
 * One Linear weight format: detection, loading, quantizing, GPU decoding and
 * the CPU reference. `W` is its host representation (as loaded, still in the
 * stored format), `V` the names of its GPU variants, `O` its quantizer's options.
 */
export interface LinearFormat<
  W extends HostLinearBase,
  V extends string = string,
  O extends object = Record<never, never>,
> {
  /** The host weights' `format` discriminant. */
  readonly name: W["format"];
  /** The shader variants this format decodes with (names are global across formats). */
  readonly gpuVariants: Readonly<Record<V, GpuVariant>>;
  /**
   * Whether the Linear weight `info` of `store` is stored in this format,
   * from dtypes and the tensors present (reads nothing). May throw when the
   * tensors claim the format but cannot be it (e.g. U8 without a quant state).
   */
  detect(store: TensorStore, info: TensorInfo): boolean;
  /** `[out, in]` as stored, reading at most a small state tensor (nf4's quant state). */
  storedShape(store: TensorStore, info: TensorInfo): Promise<number[]>;
  /** Loads the weight `info` (views over the file; small scale tables decoded to f32). */
  load(store: TensorStore, info: TensorInfo, expected?: readonly [number, number]): Promise<W>;
  /** The weight decoded as the bf16 reference decodes it (`this` unchanged when it has no such variant). */
  torchBf16(w: W): W;
  /** The shader variant `w` uploads as. */
  gpuVariant(w: W): V;
  /** Values per aux-table block (the shader's `nf4_block`), 0 when scales are per row. */
  blockSize(w: W): number;
  /** Bits a stored element takes on the GPU (the row-band split's unit). */
  bitsPerElement(w: W): number;
  /**
   * Output rows `[row0, row0 + rows)` of `w`, still in its format (views, no
   * copy). Blocked formats need the band to start, and end unless it ends at
   * the last row, on block boundaries; `what` names the weight in errors.
   */
  sliceRows(w: W, row0: number, rows: number, what: string): W;
  /** What the GPU holds for `w`: its packed bytes and decode table. */
  gpuArrays(w: W): LinearArrays;
  /** Dense f32 `[out, in]`: the CPU reference of what the kernel must decode to. */
  dequantize(w: W): Float32Array;
  /** The tensors a checkpoint stores for row-major `[out, in]` f32 `values` (the writers' side). */
  quantize(name: string, values: Float32Array, shape: [number, number], options?: O): TensorMap;
}

/** `v` rounded to the nearest bfloat16 (ties to even), as an f32 value. */
export function roundBf16(v: number): number {
  return bf16ToF32(f32ToBf16(v));
}

/** Throws, naming the file and tensor, when `got` is not `expected`. */
export function checkShape(
  info: TensorInfo,
  got: readonly number[],
  expected: readonly number[],
  what = "shape",
): void {
  if (got.length !== expected.length || got.some((d, i) => d !== expected[i])) {
    throw new Error(
      `${info.file}: tensor '${info.name}' has ${what} ${shapeText(got)}, expected ` +
        shapeText(expected),
    );
  }
}

/** `[out, in]` of a Linear weight's `shape`, or an error naming it. */
export function check2d(info: TensorInfo, shape: readonly number[]): [number, number] {
  if (shape.length !== 2) {
    throw new Error(
      `${info.file}: Linear weight '${info.name}' has shape ${
        shapeText(shape)
      }; expected [out, in]`,
    );
  }
  return [shape[0], shape[1]];
}

/** Checks that tensor `name` (a companion of weight `owner`) exists with `count` elements. */
export function sibling(
  store: TensorStore,
  owner: TensorInfo,
  name: string,
  count: number,
): TensorInfo {
  if (!store.has(name)) {
    throw new Error(`${owner.file}: weight '${owner.name}' is missing its tensor '${name}'`);
  }
  const info = store.info(name);
  if (numelOf(info.shape) !== count) {
    throw new Error(
      `${info.file}: tensor '${name}' has ${numelOf(info.shape)} elements ` +
        `${shapeText(info.shape)}; weight '${owner.name}' needs ${count}`,
    );
  }
  return info;
}

/** Throws unless `[row0, row0 + rows)` lies within the weight's `out` rows. */
export function checkRows(w: HostLinearBase, row0: number, rows: number, what: string): void {
  if (!(row0 >= 0 && rows > 0 && row0 + rows <= w.out)) {
    throw new Error(`${what}: rows [${row0}, ${row0 + rows}) outside [0, ${w.out})`);
  }
}

/** Throws a quantizer's error unless `values` fills `[out, in]`. */
export function checkValues(
  fn: string,
  name: string,
  values: Float32Array,
  [out, inF]: readonly [number, number],
): void {
  if (values.length !== out * inF) {
    throw new Error(`${fn} '${name}': ${values.length} values for [${out}, ${inF}]`);
  }
}

/** An f32 vector tensor (scales, code books) for the writers. */
export function f32Vector(values: Float32Array, shape = [values.length]): TensorMap[string] {
  return { dtype: "F32", shape, data: new Uint8Array(values.slice().buffer) };
}
