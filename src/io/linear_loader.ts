/**
 * Loads one Linear weight in whatever format the checkpoint stores it (spec
 * §2), told apart by the tensors present — each format's record
 * (`src/formats/`) says how it is detected and read:
 *
 * - dense: `NAME` is F32 / F16 / BF16 `[out, in]`;
 * - nf4:   `NAME` is U8 and `NAME.quant_state.bitsandbytes__nf4` exists
 *          (with `NAME.absmax`, `NAME.quant_map`, and for double quantization
 *          `NAME.nested_absmax` + `NAME.nested_quant_map`);
 * - fp8:   `NAME` is F8_E4M3 with the row scales in `NAME_scale`
 *          (`<module>.weight` → `<module>.weight_scale`);
 * - int8:  `NAME` is I8 with the row scales in `NAME_scale`, as fp8.
 *
 * Packed bytes stay views over the file (zero copy); only the small per-block
 * or per-row scales are decoded to f32 here.
 */
import { detectLinearFormat, type HostLinear, type LinearFormatName } from "../formats/mod.ts";
import type { TensorStore } from "./tensor_store.ts";
import { checkShape } from "../formats/linear_format.ts";

export { NF4_STATE_SUFFIX } from "../formats/nf4.ts";

/** A small f32 tensor (norm weight, bias, table) decoded on the host. */
export interface HostTensorF32 {
  /** Tensor name in the checkpoint. */
  name: string;
  /** Dimensions. */
  shape: number[];
  /** The values, row-major. */
  data: Float32Array;
}

/** Which format weight `name` is stored in, from the tensors present (reads nothing). */
export function linearFormat(store: TensorStore, name: string): LinearFormatName {
  return detectLinearFormat(store, name).name;
}

/** How {@link loadHostLinear} decodes. */
export interface LinearLoadOptions {
  /**
   * Decode as the bf16 reference does (fp8 row scales and fp8 / nf4 decoded
   * values rounded to bf16, see `torchBf16Decode`). Default false here: the
   * models' loaders turn it on with their `torchBf16` switch.
   */
  torchBf16?: boolean;
}

/**
 * Loads Linear weight `name` (the full key, e.g. `layers.0.attention.qkv.weight`)
 * as a {@link HostLinear}; with `expected` = `[out, in]` the shape is checked.
 */
export async function loadHostLinear(
  store: TensorStore,
  name: string,
  expected?: readonly [number, number],
  opts: LinearLoadOptions = {},
): Promise<HostLinear> {
  const format = detectLinearFormat(store, name);
  const w = await format.load(store, store.info(name), expected);
  return opts.torchBf16 ? format.torchBf16(w) : w;
}

/**
 * `[out, in]` of Linear weight `name` as stored, without reading the weight:
 * the tensor's shape, or what its format records elsewhere (nf4: the quant
 * state's `shape`).
 */
export async function storedLinearShape(store: TensorStore, name: string): Promise<number[]> {
  return await detectLinearFormat(store, name).storedShape(store, store.info(name));
}

/** An F32 / F16 / BF16 tensor decoded to f32, its shape checked against `expectedShape`. */
export async function loadHostTensorF32(
  store: TensorStore,
  name: string,
  expectedShape?: readonly number[],
): Promise<HostTensorF32> {
  const info = store.info(name);
  if (expectedShape) checkShape(info, info.shape, expectedShape);
  return { name, shape: info.shape, data: await store.f32(name) };
}
