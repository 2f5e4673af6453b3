/**
 * The cross-platform GPU benchmark: `deno task bench [--quick] [--json]`;
 * `--model` projects the released model's times instead (`model.ts`);
 * `--peers` times the same kernels against onnxruntime-web and TensorFlow.js
 * (`bench/peers/`).
 *
 * First measures the adapter's ceilings (copy bandwidth, FMA rate), then
 * times the kernels the model spends its time in and reports each as achieved
 * GFLOP/s and GB/s and as a fraction of the matching ceiling. The run and its
 * table live in src/bench/report.ts, which the browser's `bench.html` runs
 * too; `--json` prints the same schema that page exports.
 *
 * `--serve [--images N] [--steps S]` instead compares images per hour of the
 * `serve` process with one `generate` process per image (bench/serve.ts).
 */
import { parseArgs } from "node:util";
import { GpuContext } from "../src/gpu/context.ts";
import { formatBenchReport, runBenchmark } from "../src/bench/report.ts";
import { measureCeilings } from "../src/bench/ceilings.ts";
import { measureGemmProbe, PROBE_BLOCK } from "../src/bench/gemm_probe.ts";
import { directTile } from "../src/ops/linear.ts";
import { EXIT_CODES_HELP } from "../src/cli/exit_codes.ts";
import { ensureRuntimeDir } from "../src/cli/runtime_env.ts";

export const BENCH_USAGE = `usage: bench [--quick] [--json]

Measures the adapter's ceilings (copy bandwidth, FMA rate) and each kernel's
achieved GFLOP/s and GB/s as a fraction of them.

  --quick   short sizes (always on a software adapter)
  --json    machine-readable output on stdout
  --serve   images/hour of the warm server vs one generate process per image
            (embedded model; --images N, default 4; --steps S, default 12)
  --model   project the released model's times from one released-size block of each
            component (bench --model --help)
  --loads   what the GEMM's storage reads cost: the direct path's loop at 128x4608x4608
            with and without its operand reads, against the FMA ceiling

${EXIT_CODES_HELP}`;

export async function runBench(args: string[]): Promise<number> {
  if (args.includes("--model")) {
    const { runModelBench } = await import("./model.ts");
    return await runModelBench(args.filter((a) => a !== "--model"));
  }
  let values;
  try {
    values = parseArgs({
      args,
      options: {
        quick: { type: "boolean", default: false },
        json: { type: "boolean", default: false },
        serve: { type: "boolean", default: false },
        peers: { type: "boolean", default: false },
        loads: { type: "boolean", default: false },
        shapes: { type: "string", default: "quick" },
        tokens: { type: "string" },
        rounds: { type: "string" },
        filter: { type: "string" },
        images: { type: "string", default: "4" },
        steps: { type: "string", default: "12" },
        help: { type: "boolean", short: "h", default: false },
      },
    }).values;
  } catch (e) {
    console.error(`bench: ${e instanceof Error ? e.message : e}\n\n${BENCH_USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(BENCH_USAGE);
    return 0;
  }
  const ctx = await GpuContext.create();
  if (values.serve) {
    const adapter = ctx.describe();
    ctx.destroy();
    const { runServeBench } = await import("./serve.ts");
    return await runServeBench({
      images: Number(values.images),
      steps: Number(values.steps),
      json: values.json,
    }, adapter);
  }
  if (values.peers) {
    try {
      // Software adapters are ~1000× slower than a GPU: keep their run short.
      const quick = values.quick || ctx.isSoftware;
      const ceilings = await measureCeilings(ctx, { quick });
      const { runPeerBench } = await import("./peers/main.ts");
      return await runPeerBench(ctx, ceilings, { ...values, software: quick });
    } finally {
      ctx.destroy();
    }
  }
  if (values.loads) {
    try {
      return await runLoadsProbe(ctx, values);
    } finally {
      ctx.destroy();
    }
  }
  try {
    const report = await runBenchmark(ctx, { quick: values.quick });
    if (values.json) console.log(JSON.stringify(report, null, 2));
    else for (const line of formatBenchReport(report)) console.log(line);
  } finally {
    ctx.destroy();
  }
  return 0;
}

/** `bench --loads`: the GEMM loop with and without its operand reads (src/bench/gemm_probe.ts). */
async function runLoadsProbe(
  ctx: GpuContext,
  opts: { quick: boolean; json: boolean },
): Promise<number> {
  const shape = opts.quick ? { m: 128, n: 1024, k: 1024 } : { m: 128, n: 4608, k: 4608 };
  const ceilings = await measureCeilings(ctx, { quick: ctx.isSoftware || opts.quick });
  const report = await measureGemmProbe(ctx, shape);
  if (opts.json) {
    console.log(JSON.stringify({ adapter: ctx.describe(), shape, ceilings, ...report }, null, 2));
    return 0;
  }
  const ceiling = ceilings.f32GFlops;
  const { DTM, DTN } = directTile(shape.m, shape.n, "f32");
  const line = (what: string, ms: number, gflops: number) =>
    console.log(
      what.padEnd(36) + ms.toPrecision(3).padEnd(10) + gflops.toPrecision(3).padEnd(10) +
        (100 * gflops / ceiling).toFixed(1),
    );
  console.log(`adapter: ${ctx.describe()}`);
  console.log(
    `FMA f32 ceiling ${ceiling.toPrecision(3)} GFLOP/s; ${shape.m}x${shape.n}x${shape.k}`,
  );
  console.log(`${"".padEnd(36)}${"ms".padEnd(10)}${"GFLOP/s".padEnd(10)}% FMA`);
  line(`linear, f32 weights (${DTM}x${DTN} block)`, report.linear.ms, report.linear.gflops);
  const { DTM: pm, DTN: pn } = PROBE_BLOCK;
  console.log(`its loop (${pm}x${pn} block), reading from storage:`);
  for (const r of report.rows) line(`  ${r.loads}`, r.ms, r.gflops);
  return 0;
}

if (import.meta.main) {
  ensureRuntimeDir();
  Deno.exit(await runBench(Deno.args));
}
