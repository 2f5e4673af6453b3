/**
 * The benchmark's kernel cases: the Linear GEMM in every weight format,
 * flash attention at the head sizes the model uses, and the VAE's convs. Each case reports time,
 * achieved GFLOP/s and GB/s, and both as a percentage of the adapter's
 * measured ceilings (see `ceilings.ts`).
 *
 * Bytes are the compulsory traffic (inputs read once, output written once):
 * a kernel at 100% of the copy ceiling could not be faster on that memory.
 * Shapes follow the real model (DiT emb 4608, head_dim 256; Qwen3 hidden 4096,
 * head_dim 128); `quick` scales them down for software adapters.
 */
import type { GpuContext } from "../gpu/context.ts";
import { Tensor } from "../gpu/tensor.ts";
import { timeGpu } from "../gpu/timing.ts";
import type { HostLinear } from "../formats/mod.ts";
import { attention } from "../ops/attention.ts";
import { conv2d, uploadConv2dWeight } from "../ops/conv2d.ts";
import { linear, uploadLinear } from "../ops/linear.ts";
import type { ActDType } from "../ops/common.ts";
import type { Ceilings } from "./ceilings.ts";

export interface BenchRow {
  kernel: string;
  shape: string;
  ms: number;
  gflops: number;
  /**
   * % of the f32 FMA ceiling: every kernel multiplies and accumulates in f32,
   * whatever its activation dtype (f16 activations are converted on load).
   */
  flopsPct?: number;
  gbs: number;
  /** % of the copy ceiling. */
  bytesPct?: number;
}

function row(
  c: Ceilings,
  kernel: string,
  shape: string,
  ms: number,
  flops: number,
  bytes: number,
): BenchRow {
  const gflops = flops / (ms * 1e6), gbs = bytes / (ms * 1e6);
  const peak = c.f32GFlops;
  return {
    kernel,
    shape,
    ms,
    gflops,
    flopsPct: peak ? (100 * gflops) / peak : undefined,
    gbs,
    bytesPct: c.copyGBs ? (100 * gbs) / c.copyGBs : undefined,
  };
}

/** A weight of `n × k` random-looking bytes in `format` (contents do not affect speed). */
export function syntheticWeight(format: string, n: number, k: number): HostLinear {
  const bytes = (len: number) => {
    const b = new Uint8Array(len);
    // Keep bf16/f16/f32/fp8 values finite: small exponents only.
    for (let i = 0; i < len; i++) b[i] = (i * 37) & 0x3b;
    return b;
  };
  const scales = (len: number) => new Float32Array(len).fill(0.01);
  switch (format) {
    case "nf4": {
      const quantMap = Float32Array.from({ length: 16 }, (_, i) => -1 + (2 * i) / 15);
      return {
        format: "nf4",
        out: n,
        in: k,
        packed: bytes((n * k) / 2),
        absmax: scales(Math.ceil((n * k) / 64)),
        quantMap,
        blocksize: 64,
      };
    }
    case "fp8":
      return { format: "fp8", out: n, in: k, bytes: bytes(n * k), scale: scales(n) };
    default: {
      const dtype = format as "f32" | "f16" | "bf16";
      return {
        format: "dense",
        dtype,
        out: n,
        in: k,
        bytes: bytes(n * k * (dtype === "f32" ? 4 : 2)),
      };
    }
  }
}

/** `Y[M,N] = X[M,K] · Wᵀ` for each weight format and activation dtype. */
export async function gemmCases(
  ctx: GpuContext,
  c: Ceilings,
  quick: boolean,
): Promise<BenchRow[]> {
  // Full: DiT attention qkv at 1024² (4096 image tokens + 512 text); quick: 1/8 of each side.
  const [m, n, k] = quick ? [512, 512, 576] : [4608, 4608 * 3, 4608];
  const rows: BenchRow[] = [];
  const dtypes: ActDType[] = ctx.features.f16 ? ["f32", "f16"] : ["f32"];
  for (const format of ["f32", "f16", "bf16", "nf4", "fp8"]) {
    const w = uploadLinear(ctx, syntheticWeight(format, n, k), `bench ${format}`);
    for (const dtype of dtypes) {
      const x = Tensor.empty(ctx, [m, k], dtype, "bench x");
      const y = Tensor.empty(ctx, [m, n], dtype, "bench y");
      const t = await timeGpu(ctx, () => linear(ctx, x, w, { out: y }), quick ? 3 : 10);
      const actBytes = dtype === "f16" ? 2 : 4;
      // The weight as uploaded (packed values and decode tables) plus X and Y.
      const bytes = w.byteSize + (m * k + m * n) * actBytes;
      rows.push(
        row(
          c,
          `linear ${format} w / ${dtype} x`,
          `${m}x${n}x${k}`,
          t.ms,
          2 * m * n * k,
          bytes,
        ),
      );
      x.release();
      y.release();
    }
    w.release();
  }
  return rows;
}

/** Flash attention: the DiT's (head_dim 256, full) and Qwen3's (128, causal, GQA 4:1). */
export async function attentionCases(
  ctx: GpuContext,
  c: Ceilings,
  quick: boolean,
): Promise<BenchRow[]> {
  const cases = [
    {
      name: "DiT",
      l: quick ? 512 : 4608,
      h: quick ? 2 : 18,
      hkv: quick ? 2 : 18,
      d: 256,
      causal: false,
    },
    {
      name: "Qwen3",
      l: quick ? 256 : 1024,
      h: quick ? 4 : 32,
      hkv: quick ? 1 : 8,
      d: 128,
      causal: true,
    },
  ];
  const rows: BenchRow[] = [];
  const dtypes: ActDType[] = ctx.features.f16 ? ["f32", "f16"] : ["f32"];
  for (const a of cases) {
    for (const dtype of dtypes) {
      const q = Tensor.empty(ctx, [a.l, a.h, a.d], dtype, "bench q");
      const k = Tensor.empty(ctx, [a.l, a.hkv, a.d], dtype, "bench k");
      const v = Tensor.empty(ctx, [a.l, a.hkv, a.d], dtype, "bench v");
      const o = Tensor.empty(ctx, [a.l, a.h, a.d], dtype, "bench o");
      const t = await timeGpu(
        ctx,
        () => attention(ctx, q, k, v, { causal: a.causal, scale: 1 / Math.sqrt(a.d), out: o }),
        quick ? 2 : 5,
      );
      // QKᵀ and PV: 2 GEMMs of l² d per head; half of that when causal.
      const flops = 4 * a.l * a.l * a.d * a.h * (a.causal ? 0.5 : 1);
      const bytes = (2 * a.l * a.h * a.d + 2 * a.l * a.hkv * a.d) * (dtype === "f16" ? 2 : 4);
      rows.push(
        row(
          c,
          `attention ${a.name} ${dtype}${a.causal ? " causal" : ""}`,
          `L${a.l} H${a.h}/${a.hkv} D${a.d}`,
          t.ms,
          flops,
          bytes,
        ),
      );
      for (const t of [q, k, v, o]) t.release();
    }
  }
  return rows;
}

/**
 * The VAE decoder's 3×3 convs: a wide one (the decoder's 512-channel levels)
 * and `conv_out` (128 → 3 RGB channels at full resolution).
 */
export async function convCases(
  ctx: GpuContext,
  c: Ceilings,
  quick: boolean,
): Promise<BenchRow[]> {
  const cases = [
    { name: "VAE 3x3", hw: quick ? 32 : 256, cin: quick ? 128 : 512, cout: quick ? 128 : 512 },
    { name: "VAE conv_out", hw: quick ? 128 : 1024, cin: 128, cout: 3 },
  ];
  const rows: BenchRow[] = [];
  const dtypes: ActDType[] = ctx.features.f16 ? ["f32", "f16"] : ["f32"];
  for (const k of cases) {
    const n = k.cout * k.cin * 9;
    // Deterministic, non-trivial weights (contents do not affect speed).
    const data = Float32Array.from({ length: n }, (_, i) => ((i * 37) % 17) / 17 - 0.5);
    for (const dtype of dtypes) {
      const w = uploadConv2dWeight(
        ctx,
        { shape: [k.cout, k.cin, 3, 3], data },
        `bench ${k.name}`,
        dtype,
      );
      const x = Tensor.empty(ctx, [k.hw, k.hw, k.cin], dtype, "bench conv x");
      const y = Tensor.empty(ctx, [k.hw, k.hw, k.cout], dtype, "bench conv y");
      const t = await timeGpu(ctx, () => conv2d(ctx, x, w, undefined, { out: y }), quick ? 2 : 5);
      const px = k.hw * k.hw, act = dtype === "f16" ? 2 : 4;
      rows.push(
        row(
          c,
          `conv ${k.name} ${dtype}`,
          `${k.hw}x${k.hw} ${k.cin}->${k.cout}`,
          t.ms,
          2 * px * k.cin * k.cout * 9,
          (px * (k.cin + k.cout) + n) * act,
        ),
      );
      for (const t of [x, y, w.tensor]) t.release();
    }
  }
  return rows;
}
