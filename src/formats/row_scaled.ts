/**
 * What the 8-bit row-scaled formats (fp8 `fp8.ts`, int8 `int8.ts`) share: a
 * byte per value, row-major, and one f32 scale per output row stored beside
 * the weight as `<module>.weight_scale` (F32 `[out]`), which is also the
 * kernel's aux table. Each format supplies only how a byte decodes.
 */
import type { TensorMap } from "../io/safetensors_writer.ts";
import type { TensorInfo, TensorStore } from "../io/tensor_store.ts";
import {
  check2d,
  checkRows,
  checkShape,
  checkValues,
  f32Vector,
  type LinearArrays,
  sibling,
} from "./linear_format.ts";

/** Suffix turning a row-scaled `<module>.weight` into its `<module>.weight_scale`. */
export const ROW_SCALE_SUFFIX = "_scale";

/** The fields of a row-scaled host weight. */
export interface RowScaledHostLinear {
  /** Discriminant. */
  format: string;
  /** Output features (rows). */
  out: number;
  /** Input features (columns). */
  in: number;
  /** `out*in` stored bytes, row-major (may be a view over a mapped file). */
  bytes: Uint8Array;
  /** `[out]` row scales as decoding uses them. */
  scale: Float32Array;
}

/** The weight bytes and the `[out]` row scales of weight `info`, shapes checked. */
export async function loadRowScaled(
  store: TensorStore,
  info: TensorInfo,
  expected?: readonly [number, number],
): Promise<{ out: number; in: number; bytes: Uint8Array; scale: Float32Array }> {
  const [out, inF] = check2d(info, info.shape);
  if (expected) checkShape(info, info.shape, expected);
  const scaleName = info.name + ROW_SCALE_SUFFIX;
  const scaleInfo = sibling(store, info, scaleName, out);
  checkShape(scaleInfo, scaleInfo.shape, [out]);
  return { out, in: inF, bytes: await store.bytes(info.name), scale: await store.f32(scaleName) };
}

/** Rows `[row0, row0 + rows)` of a row-scaled weight (views). */
export function sliceRowScaled<W extends RowScaledHostLinear>(
  w: W,
  row0: number,
  rows: number,
  what: string,
): W {
  checkRows(w, row0, rows, what);
  return {
    ...w,
    out: rows,
    bytes: w.bytes.subarray(row0 * w.in, (row0 + rows) * w.in),
    scale: w.scale.subarray(row0, row0 + rows),
  };
}

/** The GPU arrays of a row-scaled weight: its bytes and a copy of its scales. */
export function rowScaledArrays(w: RowScaledHostLinear): LinearArrays {
  return { weight: w.bytes, aux: w.scale.slice() };
}

/** `w` decoded to f32: `decode(byte) · scale[row]`, then `round` (the identity by default). */
export function dequantizeRowScaled(
  w: RowScaledHostLinear,
  decode: (byte: number) => number,
  round: (v: number) => number = (v) => v,
): Float32Array {
  const out = new Float32Array(w.out * w.in);
  for (let r = 0; r < w.out; r++) {
    const s = w.scale[r];
    for (let i = r * w.in; i < (r + 1) * w.in; i++) out[i] = round(decode(w.bytes[i]) * s);
  }
  return out;
}

/**
 * The tensors of a row-scaled Linear `name`: the codes (`dtype` `[out, in]`)
 * and `name + "_scale"` (F32 `[out]`), each row scaled so its largest
 * |value| maps to `max` (scales at least 1e-8, so an all-zero row stays 0).
 */
export function quantizeRowScaled(
  fn: string,
  name: string,
  values: Float32Array,
  [out, inF]: [number, number],
  dtype: "F8_E4M3" | "I8",
  max: number,
  encode: (v: number) => number,
): TensorMap {
  checkValues(fn, name, values, [out, inF]);
  const scale = new Float32Array(out);
  const bytes = new Uint8Array(out * inF);
  for (let r = 0; r < out; r++) {
    let amax = 0;
    for (let c = 0; c < inF; c++) amax = Math.max(amax, Math.abs(values[r * inF + c]));
    scale[r] = Math.max(Math.fround(amax / max), 1e-8);
    for (let c = 0; c < inF; c++) {
      bytes[r * inF + c] = encode(Math.fround(values[r * inF + c] / scale[r]));
    }
  }
  return {
    [name]: { dtype, shape: [out, inF], data: bytes },
    [name + ROW_SCALE_SUFFIX]: f32Vector(scale),
  };
}
