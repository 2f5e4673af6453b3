/**
 * Linear layers on the GPU: `Y = X · Wᵀ (+ bias)` with `X` `[M, K]` f32/f16
 * activations and `W` `[N, K]` kept on the GPU in its stored format (dense
 * f32/f16/bf16, bitsandbytes nf4, weight-only fp8, int8), decoded inside the
 * kernel (`shaders/linear.wgsl`), never kept as a dense copy.
 * CPU reference: `linear_ref.ts`.
 *
 * Two kernels, one file. The tiled path (entry `main`) stages X and the
 * decoded weight in workgroup memory, the usual GPU design. The direct path
 * (entry `direct`) keeps a small block of Y per invocation in registers and
 * reads X and the packed weight straight from the storage buffers, decoding
 * each weight word once into values used for every row of the block. On CPU
 * adapters (llvmpipe/lavapipe) every workgroup-memory access costs as much as
 * a storage load and barriers switch coroutines, so the direct path is 2–3×
 * the tiled one there at M ≥ 16 and 7–13× at M ≤ 4 (measured per format in
 * README "Against onnxruntime-web and TensorFlow.js"); CPU adapters take it wherever K fits
 * ({@link linearDirectFits}), GPUs keep the tiled path, which is unmeasured
 * on them against the direct one. There, an nf4 weight decoded as bf16 is
 * expanded band by band into bf16 words for the length of one call when X has
 * {@link EXPAND_MIN_M} rows or more (entry `dequant_bf16`), so that its decode
 * is paid once per value rather than once per block of rows.
 *
 * What each format stores and how the kernel decodes it are the format
 * records' (`src/formats/`): their GPU variant (the shader's `FORMAT`), words
 * per element, decode table and row-band split. A weight larger than the
 * device's `maxStorageBufferBindingSize` is uploaded as several parts, each a
 * band of output rows with its own buffer (and its own slice of the nf4
 * absmax / row scales); `linear` dispatches one GEMM per part into disjoint
 * column ranges of the same output.
 */
import linearWgsl from "../../shaders/linear.wgsl" with { type: "text" };
import type { GpuContext } from "../gpu/context.ts";
import { declareKernel } from "../gpu/declare_kernel.ts";
import { grid } from "../gpu/kernel.ts";
import { shapeStr, Tensor } from "../gpu/tensor.ts";
import {
  GPU_VARIANTS,
  gpuFormat,
  type HostLinear,
  hostLinearParts,
  linearBlockSize,
  linearFormatConsts,
  type LinearGpuFormat,
} from "../formats/mod.ts";
import { type ActDType, actType, assertActivation } from "./common.ts";

export { gpuFormat, type LinearGpuFormat };

/** A workgroup tile: BM×BN outputs, BK deep, TM×TN per thread (multiples of 4). */
export interface LinearTile {
  BM: number;
  BN: number;
  BK: number;
  TM: number;
  TN: number;
}

/**
 * Tiles of the tiled path, by shape. Large M is compute-bound: 64×64 outputs per workgroup of
 * 8×8 threads, 8×8 each, 32 deep (16 KiB of workgroup memory, the WebGPU
 * minimum): 4 vec4 reads of workgroup memory per 64 FMAs (measured on
 * lavapipe: 1.4× the 4×4-per-thread tile, ahead of 128×64 and of one-row
 * layouts). Fewer rows would leave most of a 64-row tile computing padding,
 * and the weight decode weighs more: up to 32 rows, 16×64 tiles of 8×4 per
 * thread (1.2× the large tile at M = 32 on lavapipe, 2× at M = 16); up to 4
 * rows, 4×128 tiles of 32 threads in one row, whose X reads are then the
 * same for all threads (4–5× the large tile at M = 4, 1.6× the 16-row one).
 */
export const LINEAR_TILES = {
  small: { BM: 4, BN: 128, BK: 32, TM: 4, TN: 4 },
  medium: { BM: 16, BN: 64, BK: 32, TM: 8, TN: 4 },
  large: { BM: 64, BN: 64, BK: 32, TM: 8, TN: 8 },
} as const satisfies Record<string, LinearTile>;

/** Most rows of X the small and the medium tile are used for. */
export const SMALL_M = 4;
export const MEDIUM_M = 32;

/** The tile for `m` rows of X. */
export function linearTile(m: number): LinearTile {
  if (m <= SMALL_M) return LINEAR_TILES.small;
  return m <= MEDIUM_M ? LINEAR_TILES.medium : LINEAR_TILES.large;
}

/**
 * Most of K one dispatch sums on a CPU adapter. Mesa's llvmpipe/lavapipe end
 * a shader's loops after 65535 iterations shared by all its loops
 * (`LP_MAX_TGSI_LOOP_ITERATIONS`, a guard against hangs), which silently
 * truncated long reductions (the DiT's llm_proj, K = 53248, was wrong there
 * with the previous kernel too): on those adapters K is summed in chunks of
 * this size, the later ones adding to Y. Real GPUs sum K in one dispatch.
 */
export const SOFTWARE_K_CHUNK = 4096;

/**
 * Whether the vectorised load path applies: X rows read as vec4 and weight
 * words decoded whole, which needs K a multiple of 4 and of the elements per
 * word (so no word straddles a row) and blocks (nf4's; 0 for none) a multiple
 * of it.
 */
export function linearVectorLoads(format: LinearGpuFormat, k: number, nf4Block: number): boolean {
  const epw = GPU_VARIANTS[format].elementsPerWord;
  return k % 4 === 0 && k % epw === 0 && nf4Block % epw === 0;
}

/**
 * The direct path's block per invocation: `DTM` rows × `DTN` columns of Y
 * held in registers, {@link DIRECT_WG} invocations a workgroup along N (see
 * `shaders/linear.wgsl`, entry `direct`), for `m` rows of X, `n` outputs and
 * the weight's GPU format. Measured on lavapipe (llvmpipe, 256-bit), in one
 * process, interleaved, with f32 and f16 activations at 128×4608×4608,
 * 1024×1024×256, 512×512×576 and 16×4608×4608:
 * - dense weights (f32, f16, bf16): 6 × 4, 1.09–1.29× the 8 × 4 block with
 *   f32 weights and f32 activations, 1.1–1.2× the 4 × 4 one elsewhere (and
 *   2× the 8 × 4 one with f16 activations, whose conversions spill it); 8 × 5,
 *   8 × 8, 6 × 6 and 16 × 8 spill and run at half speed or less;
 * - nf4 (either decode): 4 × 6, 1.17–1.33× the 4 × 4 block at 16–128 rows
 *   (X's reads, 8 per vec4 of weight words and row, are shared by more
 *   columns; 4 × 8 spills and runs at a third), where the 384 columns of a
 *   workgroup leave at most an eighth of N as padding; with more padding (N =
 *   512: half) 4 × 4 is faster;
 * - fp8 (either decode), after its decode was made cheaper: 4 × 6 under the
 *   same padding rule, 1.02–1.05× the 4 × 4 block (6 × 4, 5 × 4 and 4 × 5
 *   slower);
 * - int8: 4 × 4 (not measured apart: no synthetic int8 weight in the bench).
 * Up to 4 rows of X, DTM = M: no padded rows are loaded or computed. The block
 * does not change any output's bits: each sums its k in the same order.
 */
export function directTile(
  m: number,
  n: number,
  format: LinearGpuFormat,
): { DTM: number; DTN: number } {
  if (m <= SMALL_M) return { DTM: m, DTN: 4 };
  if (format === "f32" || format === "f16" || format === "bf16") return { DTM: 6, DTN: 4 };
  const wide = DIRECT_WG * 6;
  const wideFormat = format === "nf4" || format === "nf4_bf16" || format === "fp8" ||
    format === "fp8_bf16";
  if (wideFormat && Math.ceil(n / wide) * wide * 8 <= n * 9) {
    return { DTM: 4, DTN: 6 };
  }
  return { DTM: 4, DTN: 4 };
}

/** Invocations per workgroup of the direct path. */
export const DIRECT_WG = 64;

/**
 * Whether the direct path can take a weight: K a multiple of the values in
 * one vec4 of weight words (so every row and every K chunk starts on one) and
 * nf4 blocks a multiple of 32 (one absmax per vec4).
 */
export function linearDirectFits(format: LinearGpuFormat, k: number, nf4Block: number): boolean {
  const dq = 4 * GPU_VARIANTS[format].elementsPerWord;
  return k % dq === 0 && nf4Block % 32 === 0;
}

/** The two GEMM kernels: shared-memory tiles (`tiled`) or register blocks read directly (`direct`). */
export type LinearPath = "tiled" | "direct";

/** The path {@link linear} takes by default: direct on CPU adapters where it fits, else tiled. */
export function linearPath(ctx: GpuContext, w: LinearWeight): LinearPath {
  return ctx.isSoftware && linearDirectFits(w.format, w.in, w.nf4Block) ? "direct" : "tiled";
}

/**
 * Smallest M at which the direct path expands a weight decoded as nf4_bf16
 * (bitsandbytes' bf16 output, the models' default) into bf16 words once per
 * call and multiplies those, instead of decoding every value once per block of
 * rows: the nf4 decode (a tree of 15 selects per value on llvmpipe) is then
 * paid once, and the bf16 GEMM reads half a word per value. Measured on
 * lavapipe (see README, "What limits the GEMM on lavapipe").
 */
export const EXPAND_MIN_M = 32;

/** Largest band of weight rows expanded at a time, in bytes of bf16 words. */
export const EXPAND_BAND_BYTES = 32 << 20;

/** Every `Params` field at zero: a dispatch sets the ones its entry reads. */
const NO_PARAMS = {
  M: 0,
  N: 0,
  K: 0,
  ldy: 0,
  col0: 0,
  nf4_block: 0,
  k_begin: 0,
  k_end: 0,
  accumulate: 0,
  dq_first: 0,
  dq_count: 0,
};

/**
 * Expands weight rows `[r0, r0 + rows)` of an nf4_bf16 part (K values each)
 * into the dense bf16 layout in `words` (entry `dequant_bf16`).
 */
function expandNf4Bf16(
  ctx: GpuContext,
  part: LinearPart,
  r0: number,
  rows: number,
  k: number,
  nf4Block: number,
  words: Tensor,
): void {
  const perVec4 = 4 * GPU_VARIANTS.nf4_bf16.elementsPerWord; // 32 values
  const count = (rows * k) / perVec4;
  LINEAR.dispatch(ctx, {
    entry: "dequant_bf16",
    variant: {
      act_t: "f32",
      format: "nf4_bf16",
      vec: true,
      bias: false,
      epilogue: "none",
      ...LINEAR_TILES.large,
      DTM: 1,
      DTN: 1,
    },
    params: {
      ...NO_PARAMS,
      K: k,
      nf4_block: nf4Block,
      dq_first: (r0 * k) / perVec4,
      dq_count: count,
    },
    bindings: { D4: words.binding, W4: part.weight.binding, aux: part.aux!.binding },
    workgroups: grid(ctx, Math.ceil(count / DIRECT_WG)),
  });
}

/**
 * The element-wise op fused after the GEMM ({@link LinearOptions.siluGate}):
 * `none`, or `siluGate` (`Y = silu(G) · (X · Wᵀ + b)`).
 */
type LinearEpilogue = "none" | "siluGate";

/** What one GEMM variant is compiled for: activations, weight decoding, load path, tile. */
type LinearVariant = LinearTile & {
  act_t: ActDType;
  format: LinearGpuFormat;
  vec: boolean;
  bias: boolean;
  epilogue: LinearEpilogue;
  /** Rows × columns per invocation of the direct path (1 × 1 for the tiled one). */
  DTM: number;
  DTN: number;
};

/**
 * The GEMM kernel. Its `FORMAT_<VARIANT>` codes are the format records' (the
 * variant's `FORMAT` selects one), so the shader and `src/formats/` share them.
 */
const LINEAR = /* @__PURE__ */ declareKernel({
  name: "linear",
  source: linearWgsl,
  params: {
    M: "u32",
    N: "u32",
    K: "u32",
    ldy: "u32", // row stride of Y
    col0: "u32", // column of Y where this weight part's outputs start
    nf4_block: "u32",
    k_begin: "u32", // the range of k this dispatch sums (a multiple of BK apart)
    k_end: "u32",
    accumulate: "u32", // add to Y (a later K chunk) instead of starting it with the bias
    dq_first: "u32", // dequant_bf16: the part's first vec4 of weight words to expand
    dq_count: "u32", // dequant_bf16: vec4s of weight words to expand
  },
  enums: { EPILOGUE: { none: 0, siluGate: 1 } },
  entries: {
    main: {
      X: "read array<act_t>",
      W: "read array<u32>",
      aux: "read array<f32>",
      bias: "read array<f32>",
      G: "read array<act_t>", // the epilogue's operand (X again for none)
      Y: "read_write array<act_t>",
    },
    direct: {
      X4: "read array<vec4<act_t>>",
      W4: "read array<vec4<u32>>",
      aux: "read array<f32>",
      bias: "read array<f32>",
      G: "read array<act_t>", // the epilogue's operand (X again for none)
      Y: "read_write array<act_t>",
    },
    dequant_bf16: {
      D4: "read_write array<vec4<u32>>", // bf16 words of the band (slot 1, X4's in `direct`)
      W4: "read array<vec4<u32>>",
      aux: "read array<f32>",
    },
  },
  workgroupSize: "variant",
  variant: (v: LinearVariant) => ({
    aliases: { act_t: v.act_t, x_t: v.vec ? `vec4<${v.act_t}>` : v.act_t },
    select: { EPILOGUE: v.epilogue },
    consts: {
      ...linearFormatConsts(v.format), // FORMAT_<VARIANT> codes, FORMAT, EPW
      VEC: v.vec,
      HAS_BIAS: v.bias,
      BM: v.BM,
      BN: v.BN,
      BK: v.BK,
      TM: v.TM,
      TN: v.TN,
      WG: (v.BN / v.TN) * (v.BM / v.TM),
      DTM: v.DTM,
      DTN: v.DTN,
    },
  }),
});

/** One band of output rows `[row0, row0 + rows)` of a weight, in its own buffers. */
export interface LinearPart {
  /** First output row of the band. */
  row0: number;
  /** Rows in the band. */
  rows: number;
  /** Packed weight bytes. */
  weight: Tensor;
  /** Decode table: nf4 quant_map[16] + absmax, fp8 / int8 row scales; absent for dense. */
  aux?: Tensor;
}

/** A Linear weight resident on the GPU, still compressed. */
export class LinearWeight {
  private alive = true;
  /** Input features (columns of W). */
  readonly in: number;

  /** Use {@link uploadLinear}; `inFeatures` is the input width. */
  constructor(
    readonly label: string,
    readonly format: LinearGpuFormat,
    /** Output features (rows of W). */
    readonly out: number,
    inFeatures: number,
    readonly parts: readonly LinearPart[],
    readonly nf4Block: number,
    /** f32 `[out]`, when the layer has one. */
    readonly bias?: Tensor,
  ) {
    this.in = inFeatures;
  }

  /** GPU bytes held (weights, decode tables, bias). */
  get byteSize(): number {
    let n = this.bias?.byteSize ?? 0;
    for (const p of this.parts) n += p.weight.byteSize + (p.aux?.byteSize ?? 0);
    return n;
  }

  /** Whether `release()` was called. */
  get released(): boolean {
    return !this.alive;
  }

  /** Returns the weight's buffers to the pool. */
  release(): void {
    if (!this.alive) return;
    this.alive = false;
    for (const p of this.parts) {
      p.weight.release();
      p.aux?.release();
    }
    this.bias?.release();
  }

  /** Throws, naming `op` and the weight, when it was released. */
  assertAlive(op: string): void {
    if (!this.alive) throw new Error(`${op}: weight '${this.label}' used after release()`);
  }
}

/** Options of {@link uploadLinear}. */
export interface UploadLinearOptions {
  /** f32 `[out]` bias values. */
  bias?: Float32Array;
  /**
   * Largest weight buffer of one part, in bytes (default: the device's
   * `maxStorageBufferBindingSize`). Tests lower it to exercise the split.
   */
  maxPartBytes?: number;
}

/**
 * Uploads a host weight (from `loadHostLinear`) to the GPU. The packed bytes
 * go straight to `queue.writeBuffer` (a memory-mapped view is not copied).
 */
export function uploadLinear(
  ctx: GpuContext,
  w: HostLinear,
  label: string,
  opts: UploadLinearOptions = {},
): LinearWeight {
  const { out, in: k } = w;
  if (!(out > 0 && k > 0)) throw new Error(`linear '${label}': bad shape [${out}, ${k}]`);
  if (opts.bias && opts.bias.length !== out) {
    throw new Error(`linear '${label}': bias has ${opts.bias.length} values for ${out} outputs`);
  }
  const limit = Math.min(opts.maxPartBytes ?? Infinity, ctx.limits.maxStorageBufferBindingSize);
  const parts: LinearPart[] = hostLinearParts(w, limit, label).map((p) => {
    const partLabel = `${label}[${p.row0}:${p.row0 + p.rows}]`;
    return {
      row0: p.row0,
      rows: p.rows,
      weight: Tensor.upload(ctx, p.weight, [p.weight.length], "u8", partLabel, true),
      aux: p.aux && Tensor.upload(ctx, p.aux, [p.aux.length], "f32", `${partLabel}.aux`, true),
    };
  });
  const bias = opts.bias
    ? Tensor.upload(ctx, opts.bias, [out], "f32", `${label}.bias`, true)
    : undefined;
  return new LinearWeight(label, gpuFormat(w), out, k, parts, linearBlockSize(w), bias);
}

/** Options of {@link linear}. */
export interface LinearOptions {
  /** Output tensor `[M, N]` of x's dtype (e.g. a view into a larger buffer). */
  out?: Tensor;
  /**
   * Force a kernel (tests and benchmarks). By default CPU adapters take the
   * direct path wherever it fits ({@link linearDirectFits}) and GPUs the tiled one.
   */
  path?: "tiled" | "direct";
  /**
   * Fuses the SwiGLU gate into the GEMM: `Y = silu(gate) · (X · Wᵀ + b)`,
   * `gate` of Y's shape and dtype (e.g. the FFN's `x · w1ᵀ` while this GEMM
   * computes `x · w3ᵀ`). Bit-identical to `binary("siluGate", gate, linear(x, w))`
   * in one pass fewer (no intermediate Y written and read back).
   */
  siluGate?: Tensor;
  /**
   * Weight rows per band when an nf4_bf16 weight is expanded to bf16 words
   * ({@link EXPAND_MIN_M}); default: as many as {@link EXPAND_BAND_BYTES}
   * hold. Tests lower it to exercise several bands.
   */
  expandBandRows?: number;
}

/**
 * `Y = X · Wᵀ (+ bias)`; X is `[..., K]`, Y is `[..., N]` of X's dtype,
 * accumulated in f32 (with `opts.siluGate`, times `silu(gate)` in the same pass).
 */
export function linear(
  ctx: GpuContext,
  x: Tensor,
  w: LinearWeight,
  opts: LinearOptions = {},
): Tensor {
  const op = "linear";
  assertActivation(x, op);
  w.assertAlive(op);
  const k = x.shape[x.shape.length - 1];
  if (k !== w.in) {
    throw new Error(
      `${op}: '${x.label}' ${shapeStr(x.shape)} has ${k} features; weight '${w.label}' ` +
        `[${w.out}, ${w.in}] takes ${w.in}`,
    );
  }
  const m = x.numel / k;
  const outShape = [...x.shape.slice(0, -1), w.out];
  let y = opts.out;
  if (y) {
    if (y.numel !== m * w.out || y.dtype !== x.dtype) {
      throw new Error(
        `${op}: out '${y.label}' is ${shapeStr(y.shape)} ${y.dtype}; expected ` +
          `${shapeStr(outShape)} ${x.dtype}`,
      );
    }
  } else {
    y = Tensor.empty(ctx, outShape, x.dtype, `${w.label}.out`);
  }
  const gate = opts.siluGate;
  if (gate && (gate.numel !== m * w.out || gate.dtype !== x.dtype)) {
    throw new Error(
      `${op}: siluGate '${gate.label}' is ${shapeStr(gate.shape)} ${gate.dtype}; expected ` +
        `${shapeStr(outShape)} ${x.dtype}`,
    );
  }
  for (const t of gate ? [x, y, gate] : [x, y]) {
    if (t.offset % ctx.limits.minStorageBufferOffsetAlignment !== 0) {
      throw new Error(
        `${op}: '${t.label}' starts at byte ${t.offset}, not a multiple of ` +
          `${ctx.limits.minStorageBufferOffsetAlignment}; copy it to its own tensor`,
      );
    }
  }
  if (m === 0) return y;
  const path = opts.path ?? linearPath(ctx, w);
  if (path === "direct" && !linearDirectFits(w.format, k, w.nf4Block)) {
    throw new Error(
      `${op}: weight '${w.label}' (${w.format}, K = ${k}, block ${w.nf4Block}) does not fit ` +
        `the direct path`,
    );
  }
  const direct = path === "direct";
  const chunk = ctx.isSoftware ? SOFTWARE_K_CHUNK : k;
  const bias = !!w.bias;
  const epilogue = gate ? "siluGate" as const : "none" as const;
  // One GEMM over a band of `rows` weight rows held in `weight` (decoded as `format` with the
  // table `aux`), into Y's columns [col0, col0 + rows), K summed in chunks.
  const gemm = (
    format: LinearGpuFormat,
    weight: Tensor,
    aux: Tensor | undefined,
    col0: number,
    rows: number,
  ) => {
    // The direct path compiles with the large tile's constants (64 invocations, like DIRECT_WG).
    const tile = direct ? LINEAR_TILES.large : linearTile(m);
    const block = direct ? directTile(m, rows, format) : { DTM: 1, DTN: 1 };
    const variant = {
      act_t: actType(x.dtype),
      format,
      vec: direct || linearVectorLoads(format, k, w.nf4Block),
      bias,
      epilogue,
      ...tile,
      ...block,
    };
    const workgroups: [number, number] = direct
      ? [Math.ceil(rows / (DIRECT_WG * block.DTN)), Math.ceil(m / block.DTM)]
      : [Math.ceil(rows / tile.BN), Math.ceil(m / tile.BM)];
    const shared = {
      aux: (aux ?? weight).binding,
      bias: (w.bias ?? weight).binding,
      G: (gate ?? x).binding,
      Y: y.binding,
    };
    for (let k0 = 0; k0 < k; k0 += chunk) {
      const params = {
        ...NO_PARAMS,
        M: m,
        N: rows,
        K: k,
        ldy: w.out,
        col0,
        nf4_block: w.nf4Block,
        k_begin: k0,
        k_end: Math.min(k, k0 + chunk),
        accumulate: +(k0 > 0),
      };
      if (direct) {
        LINEAR.dispatch(ctx, {
          entry: "direct",
          variant,
          params,
          bindings: { X4: x.binding, W4: weight.binding, ...shared },
          workgroups,
        });
      } else {
        LINEAR.dispatch(ctx, {
          entry: "main",
          variant,
          params,
          bindings: { X: x.binding, W: weight.binding, ...shared },
          workgroups,
        });
      }
    }
  };
  if (!(direct && w.format === "nf4_bf16" && m >= EXPAND_MIN_M)) {
    for (const part of w.parts) gemm(w.format, part.weight, part.aux, part.row0, part.rows);
    return y;
  }
  // nf4 decoded as bf16 on a CPU adapter, enough rows: each band of weight rows is expanded once
  // into bf16 words, which the GEMM then reads as a bf16 weight (bit-identical).
  const bandRows = opts.expandBandRows ?? Math.max(1, Math.floor(EXPAND_BAND_BYTES / (2 * k)));
  const most = Math.min(bandRows, Math.max(...w.parts.map((p) => p.rows)));
  const words = Tensor.empty(ctx, [most * k * 2], "u8", `${w.label}.bf16`);
  try {
    for (const part of w.parts) {
      for (let r0 = 0; r0 < part.rows; r0 += bandRows) {
        const rows = Math.min(bandRows, part.rows - r0);
        expandNf4Bf16(ctx, part, r0, rows, k, w.nf4Block, words);
        gemm("bf16", words, undefined, part.row0 + r0, rows);
      }
    }
  } finally {
    words.release();
  }
  return y;
}
