/**
 * Loads one Linear weight in whatever format the checkpoint stores it (spec
 * §2), told apart by the tensors present:
 *
 * - dense: `NAME` is F32 / F16 / BF16 `[out, in]`;
 * - nf4:   `NAME` is U8 and `NAME.quant_state.bitsandbytes__nf4` exists
 *          (with `NAME.absmax`, `NAME.quant_map`, and for double quantization
 *          `NAME.nested_absmax` + `NAME.nested_quant_map`);
 * - fp8:   `NAME` is F8_E4M3 with the row scales in `NAME_scale`
 *          (`<module>.weight` → `<module>.weight_scale`).
 *
 * Packed bytes stay views over the file (zero copy); only the small per-block
 * or per-row scales are decoded to f32 here.
 */
import { type HostLinear, torchBf16Decode } from "./host_linear.ts";
import { numelOf, shapeText, type TensorInfo, type TensorStore } from "./tensor_store.ts";

/** A Linear weight's stored format: `"dense"`, `"nf4"` or `"fp8"`. */
export type LinearFormat = HostLinear["format"];

/** Suffix of the bitsandbytes quant-state tensor (JSON bytes) of an nf4 weight. */
export const NF4_STATE_SUFFIX = ".quant_state.bitsandbytes__nf4";
/** Suffix turning an fp8 `<module>.weight` into its `<module>.weight_scale`. */
export const FP8_SCALE_SUFFIX = "_scale";

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
export function linearFormat(store: TensorStore, name: string): LinearFormat {
  const info = store.info(name);
  switch (info.dtype) {
    case "F32":
    case "F16":
    case "BF16":
      return "dense";
    case "F8_E4M3":
      return "fp8";
    case "U8":
      if (store.has(name + NF4_STATE_SUFFIX)) return "nf4";
      if (store.has(name + ".quant_state.bitsandbytes__fp4")) {
        throw new Error(
          `${info.file}: weight '${name}' is bitsandbytes fp4; only nf4 is supported`,
        );
      }
      throw new Error(
        `${info.file}: weight '${name}' is U8 but has no bitsandbytes quant state ` +
          `('${name}${NF4_STATE_SUFFIX}')`,
      );
    default:
      throw new Error(
        `${info.file}: weight '${name}' is ${info.dtype}, not a Linear weight format`,
      );
  }
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
  const w = await loadStored(store, name, expected);
  return opts.torchBf16 ? torchBf16Decode(w) : w;
}

function loadStored(
  store: TensorStore,
  name: string,
  expected?: readonly [number, number],
): Promise<HostLinear> {
  switch (linearFormat(store, name)) {
    case "dense":
      return loadDense(store, name, expected);
    case "fp8":
      return loadFp8(store, name, expected);
    case "nf4":
      return loadNf4(store, name, expected);
  }
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

function checkShape(
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

function check2d(info: TensorInfo, shape: readonly number[]): [number, number] {
  if (shape.length !== 2) {
    throw new Error(
      `${info.file}: Linear weight '${info.name}' has shape ${
        shapeText(shape)
      }; expected [out, in]`,
    );
  }
  return [shape[0], shape[1]];
}

/** Checks that tensor `name` exists and has `count` elements; returns its info. */
function sibling(store: TensorStore, owner: TensorInfo, name: string, count: number): TensorInfo {
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

async function loadDense(
  store: TensorStore,
  name: string,
  expected?: readonly [number, number],
): Promise<HostLinear> {
  const info = store.info(name);
  const [out, inF] = check2d(info, info.shape);
  if (expected) checkShape(info, info.shape, expected);
  const dtype = info.dtype === "F32" ? "f32" : info.dtype === "F16" ? "f16" : "bf16";
  return { format: "dense", dtype, out, in: inF, bytes: await store.bytes(name) };
}

async function loadFp8(
  store: TensorStore,
  name: string,
  expected?: readonly [number, number],
): Promise<HostLinear> {
  const info = store.info(name);
  const [out, inF] = check2d(info, info.shape);
  if (expected) checkShape(info, info.shape, expected);
  const scaleName = name + FP8_SCALE_SUFFIX;
  const scaleInfo = sibling(store, info, scaleName, out);
  checkShape(scaleInfo, scaleInfo.shape, [out]);
  return {
    format: "fp8",
    out,
    in: inF,
    bytes: await store.bytes(name),
    scale: await store.f32(scaleName),
  };
}

/** The fields of `NAME.quant_state.bitsandbytes__nf4` this loader uses. */
interface Nf4State {
  quant_type: string;
  blocksize: number;
  shape: number[];
  nested_blocksize?: number;
  nested_offset?: number;
}

async function readNf4State(store: TensorStore, owner: TensorInfo): Promise<Nf4State> {
  const stateName = owner.name + NF4_STATE_SUFFIX;
  const where = `${owner.file}: '${stateName}'`;
  let state: Record<string, unknown>;
  try {
    state = JSON.parse(
      new TextDecoder("utf-8", { fatal: true }).decode(await store.bytes(stateName)),
    );
  } catch (e) {
    throw new Error(`${where} is not valid JSON (${e instanceof Error ? e.message : e})`);
  }
  if (typeof state !== "object" || state === null) throw new Error(`${where} is not a JSON object`);
  const positiveInt = (v: unknown) => Number.isSafeInteger(v) && (v as number) > 0;
  if (state.quant_type !== "nf4") {
    throw new Error(`${where}: quant_type ${JSON.stringify(state.quant_type)} is not "nf4"`);
  }
  if (!positiveInt(state.blocksize)) {
    throw new Error(
      `${where}: blocksize ${JSON.stringify(state.blocksize)} is not a positive integer`,
    );
  }
  if (!Array.isArray(state.shape) || !state.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new Error(`${where}: shape ${JSON.stringify(state.shape)} is not a list of integers`);
  }
  if (state.nested_blocksize !== undefined && !positiveInt(state.nested_blocksize)) {
    throw new Error(
      `${where}: nested_blocksize ${
        JSON.stringify(state.nested_blocksize)
      } is not a positive integer`,
    );
  }
  if (state.nested_offset !== undefined && typeof state.nested_offset !== "number") {
    throw new Error(
      `${where}: nested_offset ${JSON.stringify(state.nested_offset)} is not a number`,
    );
  }
  return state as unknown as Nf4State;
}

async function loadNf4(
  store: TensorStore,
  name: string,
  expected?: readonly [number, number],
): Promise<HostLinear> {
  const info = store.info(name);
  const state = await readNf4State(store, info);
  const [out, inF] = check2d(info, state.shape);
  if (expected) checkShape(info, state.shape, expected, "quant-state shape");
  const n = out * inF;
  if (info.byteLength !== Math.ceil(n / 2)) {
    throw new Error(
      `${info.file}: nf4 weight '${name}' holds ${info.byteLength} bytes; [${out}, ${inF}] ` +
        `packs into ${Math.ceil(n / 2)}`,
    );
  }
  const blocks = Math.ceil(n / state.blocksize);
  sibling(store, info, `${name}.quant_map`, 16);
  const quantMap = await store.f32(`${name}.quant_map`);
  const absmaxInfo = sibling(store, info, `${name}.absmax`, blocks);
  let absmax: Float32Array;
  if (store.has(`${name}.nested_absmax`)) {
    absmax = await resolveNestedAbsmax(store, info, absmaxInfo, state, blocks);
  } else {
    if (absmaxInfo.dtype === "U8") {
      throw new Error(
        `${absmaxInfo.file}: '${absmaxInfo.name}' is U8 (double-quantized) but ` +
          `'${name}.nested_absmax' is missing`,
      );
    }
    absmax = await store.f32(absmaxInfo.name);
  }
  return {
    format: "nf4",
    out,
    in: inF,
    packed: await store.bytes(name),
    absmax,
    quantMap,
    blocksize: state.blocksize,
  };
}

/**
 * Double quantization: `absmax[b] = nested_quant_map[q[b]] · nested_absmax[b / nested_blocksize]
 * + nested_offset`, rounded to f32 at each step as bitsandbytes computes it.
 */
async function resolveNestedAbsmax(
  store: TensorStore,
  owner: TensorInfo,
  absmaxInfo: TensorInfo,
  state: Nf4State,
  blocks: number,
): Promise<Float32Array> {
  const where = `${owner.file}: '${owner.name}${NF4_STATE_SUFFIX}'`;
  if (state.nested_blocksize === undefined || state.nested_offset === undefined) {
    throw new Error(`${where}: double-quantized, but nested_blocksize or nested_offset is missing`);
  }
  if (absmaxInfo.dtype !== "U8") {
    throw new Error(
      `${absmaxInfo.file}: '${absmaxInfo.name}' is ${absmaxInfo.dtype}; double quantization stores U8`,
    );
  }
  const nbs = state.nested_blocksize;
  sibling(store, owner, `${owner.name}.nested_absmax`, Math.ceil(blocks / nbs));
  sibling(store, owner, `${owner.name}.nested_quant_map`, 256);
  const q = await store.bytes(absmaxInfo.name);
  const nestedAbsmax = await store.f32(`${owner.name}.nested_absmax`);
  const nestedMap = await store.f32(`${owner.name}.nested_quant_map`);
  const offset = Math.fround(state.nested_offset);
  const absmax = new Float32Array(blocks);
  for (let b = 0; b < blocks; b++) {
    absmax[b] = Math.fround(nestedMap[q[b]] * nestedAbsmax[Math.floor(b / nbs)]) + offset;
  }
  return absmax;
}
