/**
 * Times recorded GPU work for the benchmarks: with `timestamp-query` the GPU
 * writes the start and end of one compute pass holding all repetitions;
 * without it, wall-clock time around submit + `onSubmittedWorkDone`.
 */
import type { GpuContext } from "./context.ts";

/** What {@link timeGpu} measured. */
export interface Timing {
  /** Milliseconds per repetition. */
  ms: number;
  /** How: GPU timestamps around the pass, or wall clock around submit and completion. */
  source: "gpu-timestamps" | "wall-clock";
}

/**
 * Runs `record` once to warm up, then `reps` times inside one timed pass.
 * `record` must only record work (no readbacks). Timestamps that come back
 * zero or non-increasing (some software adapters) fall back to wall clock.
 */
export async function timeGpu(ctx: GpuContext, record: () => void, reps = 10): Promise<Timing> {
  record();
  await ctx.sync();
  if (ctx.features.timestamps) {
    const qs = ctx.device.createQuerySet({ type: "timestamp", count: 2 });
    const resolve = ctx.device.createBuffer({
      size: 16,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
    ctx.beginTimedPass({ querySet: qs, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 });
    const before = ctx.submitCount;
    for (let i = 0; i < reps; i++) record();
    const oneSubmit = ctx.submitCount === before;
    ctx.endPass();
    ctx.commandEncoder().resolveQuerySet(qs, 0, 2, resolve, 0);
    const t0 = performance.now();
    const ab = await ctx.readBuffer(resolve, 0, 16);
    const wallMs = (performance.now() - t0) / reps;
    qs.destroy();
    resolve.destroy();
    const [a, b] = new BigUint64Array(ab);
    if (oneSubmit && b > a && a > 0n) {
      return { ms: Number(b - a) / 1e6 / reps, source: "gpu-timestamps" };
    }
    return { ms: wallMs, source: "wall-clock" };
  }
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) record();
  await ctx.sync();
  return { ms: (performance.now() - t0) / reps, source: "wall-clock" };
}
