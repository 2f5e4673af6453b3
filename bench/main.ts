/**
 * The cross-platform GPU benchmark: `deno task bench [--quick] [--json]`.
 *
 * First measures the adapter's ceilings (copy bandwidth, FMA rate), then
 * times the kernels the model spends its time in and reports each as achieved
 * GFLOP/s and GB/s and as a fraction of the matching ceiling. The run and its
 * table live in src/bench/report.ts, which the browser's `bench.html` runs
 * too; `--json` prints the same schema that page exports.
 */
import { parseArgs } from "node:util";
import { GpuContext } from "../src/gpu/context.ts";
import { formatBenchReport, runBenchmark } from "../src/bench/report.ts";

export async function runBench(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      quick: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
    },
  });
  const ctx = await GpuContext.create();
  try {
    const report = await runBenchmark(ctx, { quick: values.quick });
    if (values.json) console.log(JSON.stringify(report, null, 2));
    else for (const line of formatBenchReport(report)) console.log(line);
  } finally {
    ctx.destroy();
  }
  return 0;
}

if (import.meta.main) Deno.exit(await runBench(Deno.args));
