/**
 * Measures the adapter's two ceilings the benchmark reports against:
 * memory bandwidth (a large device-to-device copy, bytes read + written)
 * and arithmetic rate (a register-only FMA loop), in f32 and f16.
 */
import peakWgsl from "../../shaders/peak_flops.wgsl" with { type: "text" };
import type { GpuContext } from "../gpu/context.ts";
import { declareKernel } from "../gpu/declare_kernel.ts";
import { Tensor } from "../gpu/tensor.ts";
import { timeGpu } from "../gpu/timing.ts";

const PEAK_FLOPS = /* @__PURE__ */ declareKernel({
  name: "peak_flops",
  source: peakWgsl,
  params: { iters: "u32" },
  entries: { main: { out: "read_write array<f32>" } },
  workgroupSize: 256,
  variant: (v: { act_t: "f32" | "f16" }) => ({ aliases: v }),
});

export interface Ceilings {
  copyGBs: number;
  f32GFlops: number;
  f16GFlops?: number;
  timing: string;
}

/** GB/s of `copyBufferToBuffer` over `bytes` (read + write counted). */
export async function measureCopy(ctx: GpuContext, bytes: number, reps = 5): Promise<number> {
  const a = Tensor.empty(ctx, [bytes / 4], "f32", "copy src");
  const b = Tensor.empty(ctx, [bytes / 4], "f32", "copy dst");
  const t = await timeGpu(ctx, () => ctx.copy(a.buffer, 0, b.buffer, 0, bytes), reps);
  a.release();
  b.release();
  return (2 * bytes) / (t.ms * 1e6);
}

/** Timed passes of the FMA loop; the ceiling is the fastest (noise only slows a run down). */
const FLOPS_TRIALS = 3;

/**
 * GFLOP/s of the FMA loop with `threads` threads of `iters` rounds: the best
 * of {@link FLOPS_TRIALS} timed passes of 3 runs each. On lavapipe the first
 * pass of a process read 13% below the later ones (53.8 against 61.7 GFLOP/s).
 */
export async function measureFlops(
  ctx: GpuContext,
  dtype: "f32" | "f16",
  threads: number,
  iters: number,
): Promise<number> {
  const out = Tensor.empty(ctx, [threads], "f32", "peak out");
  let ms = Infinity;
  for (let i = 0; i < FLOPS_TRIALS; i++) {
    const t = await timeGpu(ctx, () =>
      PEAK_FLOPS.dispatch(ctx, {
        variant: { act_t: dtype },
        params: { iters },
        bindings: { out: out.binding },
        workgroups: PEAK_FLOPS.grid(ctx, threads),
      }), 3);
    ms = Math.min(ms, t.ms);
  }
  out.release();
  // 2 vec4 FMAs per round = 8 lanes × 2 FLOP × 2.
  return (threads * iters * 16) / (ms * 1e6);
}

export async function measureCeilings(
  ctx: GpuContext,
  opts: { quick?: boolean } = {},
): Promise<Ceilings> {
  const q = opts.quick;
  const copyGBs = await measureCopy(ctx, (q ? 16 : 256) << 20);
  // Quick: 1 GFLOP per run (≈ 20 ms on lavapipe); a quarter of that measured
  // 32–53 GFLOP/s across runs on an idle lavapipe, too short to time.
  const threads = q ? 1 << 16 : 1 << 20;
  const iters = q ? 1024 : 4096;
  const f32GFlops = await measureFlops(ctx, "f32", threads, iters);
  const f16GFlops = ctx.features.f16 ? await measureFlops(ctx, "f16", threads, iters) : undefined;
  return { copyGBs, f32GFlops, f16GFlops, timing: ctx.features.timestamps ? "timestamps" : "wall" };
}
