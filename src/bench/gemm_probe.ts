/**
 * What the GEMM's storage reads cost on an adapter (`deno task bench --loads`).
 *
 * The direct path's inner loop (`shaders/linear.wgsl`, f32 weights; a copy of
 * its shape in `shaders/gemm_probe.wgsl`, {@link PROBE_BLOCK}) is timed four
 * ways: as it is, with the weight's reads replaced by values made in
 * registers, with X's replaced, and with neither; and `linear` itself beside
 * it. The last variant is the most a kernel of that loop could reach on the
 * adapter if its operands cost nothing; the gaps say where the time goes. On
 * lavapipe (Mesa 22.3) every storage or workgroup read whose address is not a
 * constant is a per-lane loop, and that is what keeps the f32 GEMM near a third
 * of the FMA ceiling (README, "What limits the GEMM on lavapipe").
 */
import probeWgsl from "../../shaders/gemm_probe.wgsl" with { type: "text" };
import type { GpuContext } from "../gpu/context.ts";
import { declareKernel } from "../gpu/declare_kernel.ts";
import { Tensor } from "../gpu/tensor.ts";
import { timeGpu } from "../gpu/timing.ts";
import { DIRECT_WG, linear, uploadLinear } from "../ops/linear.ts";
import { syntheticWeight } from "./cases.ts";

/**
 * The probe's register block: rows × columns of Y per invocation. 8 × 4 is
 * where this loop runs fastest on lavapipe (6 × 4, `linear`'s block for dense
 * weights, ran it at 0.9×: the kernels differ around the loop).
 */
export const PROBE_BLOCK = { DTM: 8, DTN: 4 } as const;

/** Which operands the loop reads from storage. */
export type ProbeLoads = "x and w" | "w only" | "x only" | "none";

/** The four variants, in the order the bench prints them. */
export const PROBE_LOADS: readonly ProbeLoads[] = ["x and w", "w only", "x only", "none"];

const GEMM_PROBE = /* @__PURE__ */ declareKernel({
  name: "gemm_probe",
  source: probeWgsl,
  params: { M: "u32", N: "u32", K: "u32" },
  entries: {
    main: {
      X4: "read array<vec4<f32>>",
      W4: "read array<vec4<f32>>",
      Y: "read_write array<f32>",
    },
  },
  workgroupSize: "variant",
  variant: (v: { loads: ProbeLoads; DTM: number; DTN: number; WG: number }) => ({
    consts: {
      LOAD_X: v.loads === "x and w" || v.loads === "x only",
      LOAD_W: v.loads === "x and w" || v.loads === "w only",
      DTM: v.DTM,
      DTN: v.DTN,
      WG: v.WG,
    },
  }),
});

/** The probe's operands: X `[m, k]`, W `[n, k]` (f32), Y `[m, n]`. */
export interface ProbeOperands {
  m: number;
  n: number;
  k: number;
  x: Tensor;
  w: Tensor;
  y: Tensor;
}

/** Records one probe GEMM; with `loads` "x and w", `Y = X · Wᵀ`. K must be a multiple of 4. */
export function gemmProbe(ctx: GpuContext, o: ProbeOperands, loads: ProbeLoads): void {
  if (o.k % 4 !== 0) throw new Error(`gemm probe: K = ${o.k} is not a multiple of 4`);
  const { DTM, DTN } = PROBE_BLOCK;
  GEMM_PROBE.dispatch(ctx, {
    variant: { loads, DTM, DTN, WG: DIRECT_WG },
    params: { M: o.m, N: o.n, K: o.k },
    bindings: { X4: o.x.binding, W4: o.w.binding, Y: o.y.binding },
    workgroups: [Math.ceil(o.n / (DIRECT_WG * DTN)), Math.ceil(o.m / DTM)],
  });
}

/** One variant's time. */
export interface ProbeRow {
  loads: ProbeLoads;
  ms: number;
  gflops: number;
}

/** `linear` with f32 weights at the probe's shape, then the four probe variants. */
export interface ProbeReport {
  linear: { ms: number; gflops: number };
  rows: ProbeRow[];
}

/** Times `linear` and the four probe variants at `m × n × k` (f32), `reps` runs each. */
export async function measureGemmProbe(
  ctx: GpuContext,
  shape: { m: number; n: number; k: number },
  reps = 3,
): Promise<ProbeReport> {
  const { m, n, k } = shape;
  const gflops = (ms: number) => (2 * m * n * k) / (ms * 1e6);
  const fill = (len: number, seed: number) => {
    const a = new Float32Array(len);
    for (let i = 0; i < len; i++) a[i] = Math.sin(i * 0.37 + seed) * 0.1;
    return a;
  };
  const o: ProbeOperands = {
    m,
    n,
    k,
    x: Tensor.fromF32(ctx, fill(m * k, 1), [m, k], "f32", "probe x"),
    w: Tensor.fromF32(ctx, fill(n * k, 2), [n, k], "f32", "probe w"),
    y: Tensor.empty(ctx, [m, n], "f32", "probe y"),
  };
  const weight = uploadLinear(ctx, syntheticWeight("f32", n, k), "probe linear");
  try {
    const t = await timeGpu(ctx, () => linear(ctx, o.x, weight, { out: o.y }), reps);
    const rows: ProbeRow[] = [];
    for (const loads of PROBE_LOADS) {
      const t = await timeGpu(ctx, () => gemmProbe(ctx, o, loads), reps);
      rows.push({ loads, ms: t.ms, gflops: gflops(t.ms) });
    }
    return { linear: { ms: t.ms, gflops: gflops(t.ms) }, rows };
  } finally {
    for (const t of [o.x, o.w, o.y]) t.release();
    weight.release();
  }
}
