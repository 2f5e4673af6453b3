/**
 * Linear layers on the GPU: `Y = X · Wᵀ (+ bias)` with `X` `[M, K]` f32/f16
 * activations and `W` `[N, K]` kept on the GPU in its stored format (dense
 * f32/f16/bf16, bitsandbytes nf4, weight-only fp8), decoded inside the tiled
 * kernel (`shaders/linear.wgsl`) and never expanded to a dense copy.
 * CPU reference: `linear_ref.ts`.
 *
 * A weight larger than the device's `maxStorageBufferBindingSize` is uploaded
 * as several parts, each a band of output rows with its own buffer (and its
 * own slice of the nf4 absmax / fp8 scales); `linear` dispatches one GEMM per
 * part into disjoint column ranges of the same output.
 */
import linearWgsl from "../../shaders/linear.wgsl" with { type: "text" };
import type { GpuContext } from "../gpu/context.ts";
import { shapeStr, Tensor } from "../gpu/tensor.ts";
import { composeWgsl } from "../gpu/wgsl.ts";
import type { HostLinear } from "../io/host_linear.ts";
import { actType, assertActivation } from "./common.ts";

/**
 * Storage format of a weight on the GPU (the `FORMAT` constant of the
 * shader); `fp8_bf16` and `nf4_bf16` decode as the bf16 reference does
 * (`torchBf16` of the host weight: values rounded to bf16 after scaling).
 */
export type LinearGpuFormat = "f32" | "f16" | "bf16" | "nf4" | "fp8" | "fp8_bf16" | "nf4_bf16";

const FORMAT_CODE: Record<LinearGpuFormat, number> = {
  f32: 0,
  f16: 1,
  bf16: 2,
  nf4: 3,
  fp8: 4,
  fp8_bf16: 5,
  nf4_bf16: 6,
};

/** Tile shape: 64×64 outputs per workgroup of 16×16 threads, 4×4 each. */
const TILE = { BM: 64, BN: 64, BK: 16, TM: 4, TN: 4 } as const;

/** One band of output rows `[row0, row0 + rows)` of a weight, in its own buffers. */
export interface LinearPart {
  /** First output row of the band. */
  row0: number;
  /** Rows in the band. */
  rows: number;
  /** Packed weight bytes. */
  weight: Tensor;
  /** Decode table: nf4 quant_map[16] + absmax, fp8 scales; absent for dense. */
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

/** Bytes per stored element, times 2 (nf4 packs two per byte). */
function halfBytesPerElement(w: HostLinear): number {
  if (w.format === "nf4") return 1;
  if (w.format === "fp8") return 2;
  return w.dtype === "f32" ? 8 : 4;
}

/** The shader format a host weight is uploaded as. */
export function gpuFormat(w: HostLinear): LinearGpuFormat {
  if (w.format === "fp8") return w.torchBf16 ? "fp8_bf16" : "fp8";
  if (w.format === "nf4") return w.torchBf16 ? "nf4_bf16" : "nf4";
  return w.dtype;
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
  const nf4Block = w.format === "nf4" ? w.blocksize : 0;
  // Rows per part: as many as fit, a multiple of 256 so that nf4 blocks (64 values)
  // and byte/word boundaries never straddle two parts.
  const limit = Math.min(opts.maxPartBytes ?? Infinity, ctx.limits.maxStorageBufferBindingSize);
  const rowHalfBytes = k * halfBytesPerElement(w);
  let rowsPerPart = Math.floor((limit * 2) / rowHalfBytes);
  if (rowsPerPart < out) rowsPerPart = Math.floor(rowsPerPart / 256) * 256;
  if (rowsPerPart < 1) {
    throw new Error(
      `linear '${label}': 256 rows of [${out}, ${k}] ${gpuFormat(w)} exceed the buffer limit ` +
        `of ${limit} bytes`,
    );
  }
  const parts: LinearPart[] = [];
  for (let row0 = 0; row0 < out; row0 += rowsPerPart) {
    const rows = Math.min(rowsPerPart, out - row0);
    const e0 = row0 * k, e1 = (row0 + rows) * k;
    const partLabel = `${label}[${row0}:${row0 + rows}]`;
    switch (w.format) {
      case "dense": {
        const bpe = w.dtype === "f32" ? 4 : 2;
        const bytes = w.bytes.subarray(e0 * bpe, e1 * bpe);
        parts.push({
          row0,
          rows,
          weight: Tensor.upload(ctx, bytes, [bytes.length], "u8", partLabel, true),
        });
        break;
      }
      case "fp8": {
        const bytes = w.bytes.subarray(e0, e1);
        parts.push({
          row0,
          rows,
          weight: Tensor.upload(ctx, bytes, [bytes.length], "u8", partLabel, true),
          aux: Tensor.upload(
            ctx,
            w.scale.slice(row0, row0 + rows),
            [rows],
            "f32",
            `${partLabel}.scale`,
            true,
          ),
        });
        break;
      }
      case "nf4": {
        const bytes = w.packed.subarray(e0 / 2, Math.ceil(e1 / 2));
        const b0 = Math.floor(e0 / w.blocksize), b1 = Math.ceil(e1 / w.blocksize);
        const table = new Float32Array(16 + b1 - b0);
        table.set(w.quantMap.subarray(0, 16));
        table.set(w.absmax.subarray(b0, b1), 16);
        if (parts.length > 0 && e0 % w.blocksize !== 0) {
          throw new Error(`linear '${label}': part boundary inside an nf4 block`);
        }
        parts.push({
          row0,
          rows,
          weight: Tensor.upload(ctx, bytes, [bytes.length], "u8", partLabel, true),
          aux: Tensor.upload(ctx, table, [table.length], "f32", `${partLabel}.absmax`, true),
        });
        break;
      }
    }
  }
  const bias = opts.bias
    ? Tensor.upload(ctx, opts.bias, [out], "f32", `${label}.bias`, true)
    : undefined;
  return new LinearWeight(label, gpuFormat(w), out, k, parts, nf4Block, bias);
}

/** Options of {@link linear}. */
export interface LinearOptions {
  /** Output tensor `[M, N]` of x's dtype (e.g. a view into a larger buffer). */
  out?: Tensor;
}

/** `Y = X · Wᵀ (+ bias)`; X is `[..., K]`, Y is `[..., N]` of X's dtype, accumulated in f32. */
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
  for (const t of [x, y]) {
    if (t.offset % ctx.limits.minStorageBufferOffsetAlignment !== 0) {
      throw new Error(
        `${op}: '${t.label}' starts at byte ${t.offset}, not a multiple of ` +
          `${ctx.limits.minStorageBufferOffsetAlignment}; copy it to its own tensor`,
      );
    }
  }
  if (m === 0) return y;
  const code = composeWgsl({
    f16: x.dtype === "f16",
    aliases: { act_t: actType(x.dtype) },
    consts: { ...TILE, FORMAT: FORMAT_CODE[w.format], HAS_BIAS: !!w.bias },
  }, linearWgsl);
  for (const part of w.parts) {
    const params = new Uint32Array([m, part.rows, k, w.out, part.row0, w.nf4Block]);
    ctx.dispatch({
      name: `linear_${w.format}_${x.dtype}`,
      code,
      params: true,
      storage: ["read", "read", "read", "read", "read_write"],
    }, {
      params,
      bindings: [
        x.binding,
        part.weight.binding,
        (part.aux ?? part.weight).binding,
        (w.bias ?? part.weight).binding,
        y.binding,
      ],
      workgroups: [Math.ceil(part.rows / TILE.BN), Math.ceil(m / TILE.BM)],
    });
  }
  return y;
}
