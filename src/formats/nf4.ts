/**
 * bitsandbytes NF4 (spec §2): two 4-bit codes per byte, high nibble first,
 * each decoded as `quant_map[code] · absmax[block]` over blocks of
 * `blocksize` consecutive values of the flattened weight. A checkpoint stores
 * `NAME` (U8 packed codes), `NAME.absmax`, `NAME.quant_map` and the quant
 * state `NAME.quant_state.bitsandbytes__nf4` (JSON bytes, where the weight's
 * shape is recorded); double quantization stores the absmax as U8 codes of
 * `NAME.nested_quant_map` scaled by `NAME.nested_absmax` plus an offset,
 * which the loader resolves to f32. On the GPU the aux table is
 * `quant_map[16]` followed by the band's absmax values.
 */
import type { TensorMap, WriterTensor } from "../io/safetensors_writer.ts";
import type { TensorInfo, TensorStore } from "../io/tensor_store.ts";
import {
  check2d,
  checkRows,
  checkShape,
  checkValues,
  f32Vector,
  type LinearFormat,
  roundBf16,
  sibling,
} from "./linear_format.ts";

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

/** Suffix of the bitsandbytes quant-state tensor (JSON bytes) of an nf4 weight. */
export const NF4_STATE_SUFFIX = ".quant_state.bitsandbytes__nf4";

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

/** Raw U8 tensor. */
export function u8Tensor(bytes: Uint8Array, shape = [bytes.byteLength]): WriterTensor {
  return { dtype: "U8", shape, data: bytes };
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
  checkValues("quantizeNf4", name, values, [out, inF]);
  const n = out * inF;
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
    [`${name}.quant_map`]: f32Vector(NF4_CODE),
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
    tensors[`${name}.nested_absmax`] = f32Vector(nestedAbsmax);
    tensors[`${name}.nested_quant_map`] = f32Vector(map);
    Object.assign(state, {
      nested_blocksize: nestedBlocksize,
      nested_offset: offset,
      nested_dtype: "float32",
    });
  } else {
    tensors[`${name}.absmax`] = f32Vector(absmax);
  }
  tensors[`${name}${NF4_STATE_SUFFIX}`] = u8Tensor(
    new TextEncoder().encode(JSON.stringify(state)),
  );
  return tensors;
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

/** NF4, plain (`nf4`) or rounded to bf16 after scaling as bitsandbytes' bf16 output (`nf4_bf16`). */
export const NF4: LinearFormat<Nf4HostLinear, "nf4" | "nf4_bf16", Nf4Options> = {
  name: "nf4",
  gpuVariants: {
    nf4: { code: 3, elementsPerWord: 8 },
    nf4_bf16: { code: 6, elementsPerWord: 8 },
  },
  detect(store, info) {
    if (info.dtype !== "U8") return false;
    if (store.has(info.name + NF4_STATE_SUFFIX)) return true;
    if (store.has(info.name + ".quant_state.bitsandbytes__fp4")) {
      throw new Error(
        `${info.file}: weight '${info.name}' is bitsandbytes fp4; only nf4 is supported`,
      );
    }
    throw new Error(
      `${info.file}: weight '${info.name}' is U8 but has no bitsandbytes quant state ` +
        `('${info.name}${NF4_STATE_SUFFIX}')`,
    );
  },
  async storedShape(store, info) {
    return (await readNf4State(store, info)).shape;
  },
  async load(store, info, expected) {
    const name = info.name;
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
  },
  torchBf16: (w) => w.torchBf16 ? w : { ...w, torchBf16: true },
  gpuVariant: (w) => w.torchBf16 ? "nf4_bf16" : "nf4",
  blockSize: (w) => w.blocksize,
  bitsPerElement: () => 4,
  sliceRows(w, row0, rows, what) {
    checkRows(w, row0, rows, what);
    const e0 = row0 * w.in, e1 = (row0 + rows) * w.in, bs = w.blocksize;
    if (e0 % bs !== 0 || (e1 % bs !== 0 && row0 + rows !== w.out)) {
      throw new Error(
        `${what}: nf4 rows [${row0}, ${row0 + rows}) × ${w.in} do not start and end on ` +
          `blocks of ${bs} values`,
      );
    }
    return {
      ...w,
      out: rows,
      packed: w.packed.subarray(e0 / 2, Math.ceil(e1 / 2)),
      absmax: w.absmax.subarray(e0 / bs, Math.ceil(e1 / bs)),
    };
  },
  gpuArrays(w) {
    const aux = new Float32Array(16 + w.absmax.length);
    aux.set(w.quantMap.subarray(0, 16));
    aux.set(w.absmax, 16);
    return { weight: w.packed, aux };
  },
  dequantize(w) {
    const n = w.out * w.in;
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const byte = w.packed[i >> 1];
      const code = (i & 1) ? byte & 0xf : byte >> 4;
      const v = w.quantMap[code] * w.absmax[Math.floor(i / w.blocksize)];
      out[i] = w.torchBf16 ? roundBf16(v) : v;
    }
    return out;
  },
  quantize: quantizeNf4,
};
