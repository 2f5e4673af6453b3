/**
 * Conv2d 3×3 (zero padding 1) and 1×1, stride 1, over channels-last feature
 * maps `[H, W, C]` (batch 1), as a tiled implicit GEMM (`shaders/conv2d.wgsl`).
 * CPU reference: `conv2d_ref.ts`.
 *
 * Weights: checkpoints hold PyTorch `[Cout, Cin, kh, kw]`;
 * {@link uploadConv2dWeight} reorders them once to `[kh, kw, Cin', Cout']`
 * (= a `[K, Cout']` GEMM operand whose rows are contiguous in Cout, with the
 * K axis in the same (ky, kx, ci) order as the activations are gathered),
 * both channel counts padded with zeros to multiples of 4 so that the kernel
 * reads whole vec4s of 4 output channels, 4 input-channel rows at a time. They
 * are stored as f32 by default or as f16 when asked (halves their memory
 * with f16 activations; the kernel computes in f32 either way, and weight and
 * activation dtypes may differ). Biases are f32 `[Cout]` tensors.
 *
 * Bands: a large image can be convolved band by band with exactly the
 * whole-image result. `x` then holds rows `[inputRowOffset, inputRowOffset +
 * x rows)` of an image `imageHeight` rows tall; zero padding applies at the
 * image border only, and every other row an output row reads must be in `x`
 * (a halo of 1 row for 3×3). {@link conv2dInputRows} says which rows to give:
 *
 *     for (const rows of [[0, 512], [512, 1024], ...]) {            // output rows
 *       const [r0, r1] = conv2dInputRows(w.kernel, H, rows);        // input rows
 *       const xb = ...rows [r0, r1) of the input as [r1 - r0, W, Cin]...;
 *       const yb = conv2d(ctx, xb, w, bias, { band: { inputRowOffset: r0, imageHeight: H },
 *         outputRows: rows });                                      // [rows, W, Cout]
 *     }
 *
 * Without `outputRows`, a band yields every row it can: all of its rows at the
 * image border, one fewer (3×3) at each inner edge.
 *
 * Fusions: `upsample` convolves the nearest ×2 upsampling of `x` without
 * materialising it (the decoder's upsampler), `residual` adds a tensor to
 * the result (the resnet skip), and `out` writes into an existing tensor
 * (e.g. a view of the middle rows of a band that carries halo rows).
 */
import conv2dWgsl from "../../shaders/conv2d.wgsl" with { type: "text" };
import { bf16ToF32, f16ToF32 } from "../dtype.ts";
import { type GpuContext, grid } from "../gpu/context.ts";
import { declareKernel } from "../gpu/declare_kernel.ts";
import { shapeStr, Tensor, toF16Bits } from "../gpu/tensor.ts";
import { type ActDType, actType, assertActivation } from "./common.ts";

const CONV2D = /* @__PURE__ */ declareKernel({
  name: "conv2d",
  source: conv2dWgsl,
  params: {
    in_w: "u32", // width of x (half the conv width when UPSAMPLE)
    cin: "u32",
    cout: "u32",
    out_w: "u32", // width of the conv input and output
    image_h: "u32", // rows of the conv-input image; rows outside [0, image_h) are zero padding
    in_row0: "i32", // image row of x's row 0 (rows of x's own image when UPSAMPLE)
    out_row0: "i32", // image row of output row 0
    npix: "u32", // output pixels: output rows × out_w
    co_tiles: "u32", // ceil(cout / BN)
    tiles: "u32", // pixel tiles × co_tiles
    cinp: "u32", // weight rows per tap: cin rounded up to a multiple of 4
    cop4: "u32", // vec4s of output channels per weight row: ceil(cout / 4)
    has_bias: "u32",
    residual: "u32", // RESIDUAL_*
  },
  // Added to the result: nothing, res[pix, co], or out[pix, co] (in-place skip add).
  enums: { RESIDUAL: { none: 0, separate: 1, inPlace: 2 } },
  entries: {
    main: {
      x: "read array<x_t>",
      w: "read array<vec4<w_t>>",
      bias: "read array<f32>",
      res: "read array<act_t>",
      out: "read_write array<act_t>",
    },
  },
  workgroupSize: "variant",
  variant: (v: {
    act_t: ActDType;
    w_t: ActDType;
    xvec: boolean;
    ksize: ConvKernelSize;
    wg: number;
    tm: number;
    bn: ConvTileChannels;
    upsample: boolean;
  }) => ({
    aliases: { act_t: v.act_t, w_t: v.w_t, x_t: v.xvec ? `vec4<${v.act_t}>` : v.act_t },
    consts: {
      KSIZE: v.ksize,
      WG: v.wg,
      TM: v.tm,
      BN: v.bn,
      XVEC: v.xvec,
      UPSAMPLE: v.upsample,
    },
  }),
});

/** Kernel sizes the op supports (square, stride 1, padding `k / 2`). */
export type ConvKernelSize = 1 | 3;

/** A conv weight on the GPU, reordered to `[k, k, Cin', Cout']` (channels padded to multiples of 4). */
export interface Conv2dWeight {
  readonly tensor: Tensor;
  readonly cout: number;
  readonly cin: number;
  readonly kernel: ConvKernelSize;
  readonly label: string;
}

/**
 * A PyTorch-layout `[Cout, Cin, k, k]` weight as it comes out of a checkpoint:
 * raw little-endian bytes with their safetensors dtype, or decoded f32 values.
 */
export type ConvWeightSource =
  | { dtype: "F32" | "F16" | "BF16"; shape: readonly number[]; bytes: Uint8Array }
  | { shape: readonly number[]; data: Float32Array };

/** Decodes a source to f32 values in PyTorch order, checking its shape. */
function decodeSource(src: ConvWeightSource, label: string): Float32Array {
  const s = src.shape;
  if (s.length !== 4 || s[2] !== s[3] || (s[2] !== 1 && s[2] !== 3) || !(s[0] > 0 && s[1] > 0)) {
    throw new Error(
      `conv weight '${label}' has shape ${shapeStr(s)}; expected [Cout, Cin, 3, 3] or ` +
        `[Cout, Cin, 1, 1]`,
    );
  }
  const n = s[0] * s[1] * s[2] * s[3];
  if ("data" in src) {
    if (src.data.length !== n) {
      throw new Error(`conv weight '${label}': ${src.data.length} values for ${shapeStr(s)}`);
    }
    return src.data;
  }
  const item = src.dtype === "F32" ? 4 : 2;
  if (src.bytes.byteLength !== n * item) {
    throw new Error(
      `conv weight '${label}': ${src.bytes.byteLength} bytes for ${shapeStr(s)} ${src.dtype} ` +
        `(${n * item} bytes)`,
    );
  }
  const b = src.bytes;
  const out = new Float32Array(n);
  if (src.dtype === "F32") {
    // Copy first: the bytes may be unaligned or read-only mapped memory.
    out.set(new Float32Array(b.slice().buffer));
  } else {
    const decode = src.dtype === "F16" ? f16ToF32 : bf16ToF32;
    for (let i = 0; i < n; i++) out[i] = decode(b[2 * i] | (b[2 * i + 1] << 8));
  }
  return out;
}

/** Channels as the stored weight pads them (input rows, output columns): a multiple of 4. */
export function convPaddedChannels(channels: number): number {
  return Math.ceil(channels / 4) * 4;
}

/**
 * PyTorch `[Cout, Cin, k, k]` → the kernel's `[k, k, Cin', Cout']`, with
 * `Cin'`, `Cout'` = {@link convPaddedChannels} (the padding is zeros): a row
 * is read as whole vec4s over 4 output channels, 4 rows at a time.
 */
export function reorderConvWeight(w: Float32Array, shape: readonly number[]): Float32Array {
  const [cout, cin, k] = shape;
  const cip = convPaddedChannels(cin), cop = convPaddedChannels(cout);
  const out = new Float32Array(k * k * cip * cop);
  for (let co = 0; co < cout; co++) {
    for (let ci = 0; ci < cin; ci++) {
      for (let tap = 0; tap < k * k; tap++) {
        out[(tap * cip + ci) * cop + co] = w[(co * cin + ci) * k * k + tap];
      }
    }
  }
  return out;
}

/**
 * Uploads a conv weight once, reordered for the kernel, stored as `storeAs`
 * (f32 by default; f16 needs the adapter's `shader-f16`).
 */
export function uploadConv2dWeight(
  ctx: GpuContext,
  src: ConvWeightSource,
  label = "conv weight",
  storeAs: "f32" | "f16" = "f32",
): Conv2dWeight {
  if (storeAs === "f16" && !ctx.features.f16) {
    throw new Error(`conv weight '${label}': f16 storage needs an adapter with shader-f16`);
  }
  const values = reorderConvWeight(decodeSource(src, label), src.shape);
  const [cout, cin, k] = src.shape;
  const shape = [k, k, convPaddedChannels(cin), convPaddedChannels(cout)];
  const tensor = storeAs === "f32"
    ? Tensor.upload(ctx, values, shape, "f32", label, true)
    : Tensor.upload(ctx, toF16Bits(values), shape, "f16", label, true);
  return { tensor, cout, cin, kernel: k as ConvKernelSize, label };
}

/** Where `x` sits in a taller image (rows of `x`'s own image, before any upsampling). */
export interface ConvBand {
  /** Image row of `x`'s row 0. */
  inputRowOffset: number;
  /** Rows of the whole image. */
  imageHeight: number;
}

export interface Conv2dOptions {
  /** `x` is a band of a taller image; default: `x` is the whole image. */
  band?: ConvBand;
  /**
   * Output rows `[start, end)` to compute, in output-image rows. Default: every
   * row whose inputs `x` holds (a band with a 1-row halo gives its interior).
   */
  outputRows?: readonly [number, number];
  /** Convolve the nearest ×2 upsampling of `x` (output is `2H × 2W`). */
  upsample?: boolean;
  /** Added to the result; shaped like the output. May be `out` itself (in-place skip add). */
  residual?: Tensor;
  /** Write the result here (output shape and `x`'s dtype) instead of a new tensor. */
  out?: Tensor;
  /**
   * The pixel tile (a tuning knob for benchmarks and tests). Default: see
   * {@link convDefaultTile}. The channel tile is not a knob:
   * {@link convTileChannels} of `cout`.
   */
  tile?: ConvTile;
}

/** Output channels per workgroup tile the kernel is built for. */
export type ConvTileChannels = 4 | 8 | 16 | 32 | 64;

/** The smallest channel tile that covers `cout` (64 beyond: several tiles). */
export function convTileChannels(cout: number): ConvTileChannels {
  return cout <= 4 ? 4 : cout <= 8 ? 8 : cout <= 16 ? 16 : cout <= 32 ? 32 : 64;
}

/**
 * A workgroup's pixel tile: `threads` threads of `pixelsPerThread` pixels each,
 * every thread computing its pixels × the whole channel tile.
 */
export interface ConvTile {
  threads: 16 | 32 | 64;
  pixelsPerThread: 1 | 2 | 4 | 8;
}

/**
 * The default pixel tile for `npix` output pixels. CPU adapters (llvmpipe) run
 * a workgroup on one core, 8 threads per SIMD instruction, and every load is
 * a loop over those 8: 8 pixels per thread puts 8 FMAs behind each weight
 * load (measured on lavapipe: 2–3× one pixel per thread), with the most
 * threads (64, 32, 16) whose tiles leave at most a quarter of their pixels
 * empty (a 16×16 map in one tile of 256, not half of a 512). A GPU keeps the
 * register block small (one pixel × 64 channels = 64 accumulators per thread)
 * so that many threads stay resident; not measured yet (no GPU available).
 */
export function convDefaultTile(ctx: GpuContext, npix: number): ConvTile {
  if (!ctx.isSoftware) return { threads: 64, pixelsPerThread: 1 };
  for (const threads of [64, 32] as const) {
    const bm = threads * 8;
    if (Math.ceil(npix / bm) * bm * 0.75 <= npix) return { threads, pixelsPerThread: 8 };
  }
  return { threads: 16, pixelsPerThread: 8 };
}

/**
 * The rows of `x` (of its own image, before any upsampling) that output rows
 * `[start, end)` read: what a band must hold.
 */
export function conv2dInputRows(
  kernel: ConvKernelSize,
  imageHeight: number,
  outputRows: readonly [number, number],
  upsample = false,
): [number, number] {
  const pad = kernel === 3 ? 1 : 0;
  const convH = upsample ? 2 * imageHeight : imageHeight;
  const lo = Math.max(0, outputRows[0] - pad), hi = Math.min(convH, outputRows[1] + pad);
  return upsample ? [Math.floor(lo / 2), Math.ceil(hi / 2)] : [lo, hi];
}

function checkAligned(t: Tensor, role: string): void {
  const align = t.ctx.limits.minStorageBufferOffsetAlignment;
  if (t.offset % align !== 0) {
    throw new Error(
      `conv2d: ${role} '${t.label}' starts at byte ${t.offset}, not a multiple of ${align}`,
    );
  }
}

/** The output rows and the geometry the kernel needs, validated. */
function plan(x: Tensor, w: Conv2dWeight, opts: Conv2dOptions) {
  if (x.shape.length !== 3) {
    throw new Error(
      `conv2d '${w.label}': input '${x.label}' is ${shapeStr(x.shape)}; ` +
        `expected [H, W, C]`,
    );
  }
  const [rows, inW, cin] = x.shape;
  if (cin !== w.cin) {
    throw new Error(
      `conv2d '${w.label}': input '${x.label}' ${shapeStr(x.shape)} has ${cin} channels, ` +
        `the weight takes ${w.cin}`,
    );
  }
  const up = opts.upsample ? 2 : 1;
  const band = opts.band ?? { inputRowOffset: 0, imageHeight: rows };
  const { inputRowOffset: r0, imageHeight } = band;
  if (!Number.isInteger(r0) || r0 < 0 || r0 + rows > imageHeight) {
    throw new Error(
      `conv2d '${w.label}': band rows [${r0}, ${r0 + rows}) of '${x.label}' do not fit an ` +
        `image of ${imageHeight} rows`,
    );
  }
  const pad = w.kernel === 3 ? 1 : 0;
  const convH = imageHeight * up;
  // Conv-input rows present: those of x, upsampled.
  const [a, b] = [r0 * up, (r0 + rows) * up];
  const [y0, y1] = opts.outputRows ?? [a === 0 ? 0 : a + pad, b === convH ? convH : b - pad];
  if (!(Number.isInteger(y0) && Number.isInteger(y1) && 0 <= y0 && y0 < y1 && y1 <= convH)) {
    throw new Error(
      `conv2d '${w.label}': output rows [${y0}, ${y1}) are empty or outside the image of ` +
        `${convH} rows (band of '${x.label}' at ${r0} with ${rows} rows)`,
    );
  }
  const [need0, need1] = conv2dInputRows(w.kernel, imageHeight, [y0, y1], !!opts.upsample);
  if (need0 < r0 || need1 > r0 + rows) {
    throw new Error(
      `conv2d '${w.label}': output rows [${y0}, ${y1}) read image rows [${need0}, ${need1}) ` +
        `but '${x.label}' holds rows [${r0}, ${r0 + rows})`,
    );
  }
  return { inW, outW: inW * up, convH, r0, y0, y1 };
}

/**
 * `out[y, x, co] = bias[co] + Σ in[y + ky - p, x + kx - p, ci] · W[co, ci, ky, kx]`
 * (+ `residual`) for `x` `[H, W, Cin]` (or a band of rows, see {@link ConvBand}),
 * giving `[output rows, W, Cout]`.
 */
export function conv2d(
  ctx: GpuContext,
  x: Tensor,
  w: Conv2dWeight,
  bias?: Tensor,
  opts: Conv2dOptions = {},
): Tensor {
  assertActivation(x, "conv2d");
  const g = plan(x, w, opts);
  const outShape = [g.y1 - g.y0, g.outW, w.cout];
  const npix = outShape[0] * outShape[1];
  if (bias && (bias.dtype !== "f32" || bias.numel !== w.cout)) {
    throw new Error(
      `conv2d '${w.label}': bias '${bias.label}' is ${shapeStr(bias.shape)} ${bias.dtype}; ` +
        `expected [${w.cout}] f32`,
    );
  }
  for (const [role, t] of [["residual", opts.residual], ["out", opts.out]] as const) {
    if (!t) continue;
    if (t.numel !== npix * w.cout || t.dtype !== x.dtype) {
      throw new Error(
        `conv2d '${w.label}': ${role} '${t.label}' is ${shapeStr(t.shape)} ${t.dtype}; ` +
          `expected ${shapeStr(outShape)} ${x.dtype}`,
      );
    }
    checkAligned(t, role);
  }
  checkAligned(x, "input");
  if (opts.out && opts.out.buffer === x.buffer) {
    throw new Error(`conv2d '${w.label}': out '${opts.out.label}' shares a buffer with the input`);
  }
  const out = opts.out ?? Tensor.empty(ctx, outShape, x.dtype, w.label);
  // The residual is read from its own binding, or from `out` when it is `out` (in place).
  const res = opts.residual;
  const resInOut = !!res && res.buffer === out.buffer && res.offset === out.offset;
  if (res && !resInOut && res.buffer === out.buffer) {
    throw new Error(`conv2d '${w.label}': residual '${res.label}' overlaps out '${out.label}'`);
  }

  const bn = convTileChannels(w.cout);
  const coTiles = Math.ceil(w.cout / bn);
  const tile = opts.tile ?? convDefaultTile(ctx, npix);
  if (![16, 32, 64].includes(tile.threads) || ![1, 2, 4, 8].includes(tile.pixelsPerThread)) {
    throw new Error(
      `conv2d: tile of ${tile.threads} threads × ${tile.pixelsPerThread} pixels; expected ` +
        `16, 32 or 64 threads × 1, 2, 4 or 8 pixels`,
    );
  }
  const bm = tile.threads * tile.pixelsPerThread;
  // Mesa's CPU adapters end a shader's loops after 65535 iterations in total
  // (see SOFTWARE_K_CHUNK in linear.ts): refuse a reduction that would be cut
  // short rather than return a silently wrong result (the VAE's widest conv,
  // 3×3 over 512 channels, takes 19 584).
  const trips = w.kernel * w.kernel * Math.ceil(w.cin / 4) * (1 + bn / 4);
  if (ctx.isSoftware && trips > 60000) {
    throw new Error(
      `conv2d '${w.label}': ${w.kernel}×${w.kernel} over ${w.cin} input channels needs ` +
        `${trips} loop iterations per thread, beyond what this CPU adapter runs (65535)`,
    );
  }
  const tiles = Math.ceil(npix / bm) * coTiles;
  const { RESIDUAL } = CONV2D.enums;
  CONV2D.dispatch(ctx, {
    variant: {
      act_t: actType(x.dtype),
      w_t: actType(w.tensor.dtype),
      xvec: w.cin % 4 === 0,
      ksize: w.kernel,
      wg: tile.threads,
      tm: tile.pixelsPerThread,
      bn,
      upsample: !!opts.upsample,
    },
    params: {
      in_w: g.inW,
      cin: w.cin,
      cout: w.cout,
      out_w: g.outW,
      image_h: g.convH,
      in_row0: g.r0,
      out_row0: g.y0,
      npix,
      co_tiles: coTiles,
      tiles,
      cinp: convPaddedChannels(w.cin),
      cop4: convPaddedChannels(w.cout) / 4,
      has_bias: bias ? 1 : 0,
      residual: res ? (resInOut ? RESIDUAL.inPlace : RESIDUAL.separate) : RESIDUAL.none,
    },
    bindings: {
      x: x.binding,
      w: w.tensor.binding,
      bias: (bias ?? w.tensor).binding,
      res: (res && !resInOut ? res : x).binding,
      out: out.binding,
    },
    workgroups: grid(ctx, tiles),
  });
  return out;
}
