/**
 * The cross-platform GPU benchmark: `deno task bench [--quick] [--json]`;
 * `--peers` times the same kernels against onnxruntime-web and TensorFlow.js
 * (`bench/peers/`).
 *
 * First measures the adapter's ceilings (copy bandwidth, FMA rate), then
 * times the kernels the model spends its time in and reports each as achieved
 * GFLOP/s and GB/s and as a fraction of the matching ceiling.
 */
import { parseArgs } from "node:util";
import { GpuContext } from "../src/gpu/context.ts";
import { measureCeilings } from "../src/bench/ceilings.ts";
import { attentionCases, type BenchRow, convCases, gemmCases } from "../src/bench/cases.ts";

/** Three significant digits, without exponents for the sizes a bench sees. */
function fmt(n: number | undefined): string {
  if (n === undefined) return "-";
  return n >= 100 ? n.toFixed(0) : n.toPrecision(3);
}

export async function runBench(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      quick: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      peers: { type: "boolean", default: false },
      shapes: { type: "string", default: "quick" },
      tokens: { type: "string" },
      rounds: { type: "string" },
      filter: { type: "string" },
    },
  });
  const ctx = await GpuContext.create();
  // Software adapters are ~1000× slower than a GPU: keep their run short.
  const quick = values.quick || /llvmpipe|lavapipe|swiftshader/i.test(ctx.describe());
  const ceilings = await measureCeilings(ctx, { quick });
  if (values.peers) {
    const { runPeerBench } = await import("./peers/main.ts");
    const code = await runPeerBench(ctx, ceilings, { ...values, software: quick });
    ctx.destroy();
    return code;
  }
  const rows: BenchRow[] = [];
  for (const run of [gemmCases, attentionCases, convCases]) {
    rows.push(...await run(ctx, ceilings, quick));
  }
  if (values.json) {
    console.log(JSON.stringify({ adapter: ctx.describe(), quick, ceilings, rows }, null, 2));
    ctx.destroy();
    return 0;
  }
  console.log(`adapter: ${ctx.describe()}${quick ? "  (quick sizes)" : ""}`);
  console.log(
    `ceilings: copy ${fmt(ceilings.copyGBs)} GB/s · FMA f32 ${fmt(ceilings.f32GFlops)} GFLOP/s` +
      (ceilings.f16GFlops ? ` · FMA f16 ${fmt(ceilings.f16GFlops)} GFLOP/s` : "") +
      ` · timing by ${ceilings.timing}`,
  );
  const head = ["kernel", "shape", "ms", "GFLOP/s", "% FMA peak", "GB/s", "% copy"];
  const table = rows.map((r) => [
    r.kernel,
    r.shape,
    fmt(r.ms),
    fmt(r.gflops),
    fmt(r.flopsPct),
    fmt(r.gbs),
    fmt(r.bytesPct),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ");
  console.log(line(head));
  for (const row of table) console.log(line(row));
  ctx.destroy();
  return 0;
}

if (import.meta.main) Deno.exit(await runBench(Deno.args));
