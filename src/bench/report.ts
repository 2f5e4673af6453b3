/**
 * The benchmark as one value: a run ({@link runBenchmark}: ceilings, then
 * every kernel case), its JSON schema ({@link BenchReport}, what
 * `deno task bench --json` prints and the browser's `bench.html` exports),
 * the schema's check ({@link parseBenchReport}) and the text tables
 * (one run, or two side by side for `deno task bench:compare`). No Deno API:
 * the bench page runs the same code.
 */
import type { GpuContext } from "../gpu/context.ts";
import { attentionCases, type BenchRow, convCases, gemmCases } from "./cases.ts";
import { type Ceilings, measureCeilings } from "./ceilings.ts";

/** One benchmark run: where, how, the ceilings and a row per kernel case. */
export interface BenchReport {
  /** `GpuContext.describe()` of the adapter. */
  adapter: string;
  /** Scaled-down sizes (software adapters always run quick). */
  quick: boolean;
  ceilings: Ceilings;
  rows: BenchRow[];
}

/** Measures the ceilings, then the GEMM, attention and conv cases; `onRow` sees each row. */
export async function runBenchmark(
  ctx: GpuContext,
  opts: { quick?: boolean; onRow?: (row: BenchRow) => void; onStage?: (s: string) => void } = {},
): Promise<BenchReport> {
  // Chromium names SwiftShader only in the adapter's architecture ("google", "swiftshader").
  const software = ctx.isSoftware;
  const quick = (opts.quick ?? false) || software;
  opts.onStage?.("measuring the ceilings");
  const ceilings = await measureCeilings(ctx, { quick });
  const rows: BenchRow[] = [];
  for (
    const [name, run] of [["GEMM", gemmCases], ["attention", attentionCases], [
      "conv",
      convCases,
    ]] as const
  ) {
    opts.onStage?.(`timing the ${name} cases`);
    for (const r of await run(ctx, ceilings, quick)) {
      rows.push(r);
      opts.onRow?.(r);
    }
  }
  return { adapter: ctx.describe(), quick, ceilings, rows };
}

/** Three significant digits, without exponents for the sizes a bench sees. */
export function fmtNumber(n: number | undefined): string {
  if (n === undefined) return "-";
  return n >= 100 ? n.toFixed(0) : n.toPrecision(3);
}

/** `copy … GB/s · FMA f32 … GFLOP/s …`. */
export function ceilingsLine(c: Ceilings): string {
  return `copy ${fmtNumber(c.copyGBs)} GB/s · FMA f32 ${fmtNumber(c.f32GFlops)} GFLOP/s` +
    (c.f16GFlops ? ` · FMA f16 ${fmtNumber(c.f16GFlops)} GFLOP/s` : "") +
    ` · timing by ${c.timing}`;
}

/** Columns padded to their widest cell. */
function aligned(head: string[], body: string[][]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
  return [line(head), ...body.map(line)];
}

/** The table `deno task bench` prints. */
export function formatBenchReport(r: BenchReport): string[] {
  return [
    `adapter: ${r.adapter}${r.quick ? "  (quick sizes)" : ""}`,
    `ceilings: ${ceilingsLine(r.ceilings)}`,
    ...aligned(
      ["kernel", "shape", "ms", "GFLOP/s", "% FMA peak", "GB/s", "% copy"],
      r.rows.map((x) => [
        x.kernel,
        x.shape,
        fmtNumber(x.ms),
        fmtNumber(x.gflops),
        fmtNumber(x.flopsPct),
        fmtNumber(x.gbs),
        fmtNumber(x.bytesPct),
      ]),
    ),
  ];
}

/**
 * Two runs side by side (`deno task bench:compare a.json b.json`): per kernel
 * and shape, each run's ms and % of its own ceiling, and b's speed-up over a.
 * Cases only one run has are listed with a dash for the other.
 */
export function compareBenchReports(
  a: BenchReport,
  b: BenchReport,
  names: [string, string] = ["a", "b"],
): string[] {
  const key = (x: BenchRow) => `${x.kernel}\u0000${x.shape}`;
  const inB = new Map(b.rows.map((x) => [key(x), x]));
  const seen = new Set<string>();
  const body: string[][] = [];
  const pct = (x?: BenchRow) =>
    x === undefined ? "-" : `${fmtNumber(x.flopsPct)}% / ${fmtNumber(x.bytesPct)}%`;
  const push = (x?: BenchRow, y?: BenchRow) => {
    const r = (x ?? y)!;
    body.push([
      r.kernel,
      r.shape,
      fmtNumber(x?.ms),
      pct(x),
      fmtNumber(y?.ms),
      pct(y),
      x && y ? `${(x.ms / y.ms).toFixed(2)}×` : "-",
    ]);
  };
  for (const x of a.rows) {
    seen.add(key(x));
    push(x, inB.get(key(x)));
  }
  for (const y of b.rows) if (!seen.has(key(y))) push(undefined, y);
  const [na, nb] = names;
  return [
    `${na}: ${a.adapter}${a.quick ? " (quick)" : ""}; ${ceilingsLine(a.ceilings)}`,
    `${nb}: ${b.adapter}${b.quick ? " (quick)" : ""}; ${ceilingsLine(b.ceilings)}`,
    ...(a.quick !== b.quick ? ["note: one run used quick sizes and the other did not"] : []),
    ...aligned(
      [
        "kernel",
        "shape",
        `${na} ms`,
        `${na} %FMA/%copy`,
        `${nb} ms`,
        `${nb} %FMA/%copy`,
        `${nb} speed-up`,
      ],
      body,
    ),
  ];
}

/**
 * Checks that `value` (parsed JSON) is a {@link BenchReport}; the error names
 * `source` and the first field that is wrong.
 */
export function parseBenchReport(value: unknown, source: string): BenchReport {
  const fail = (what: string): never => {
    throw new Error(`${source}: not a benchmark report (deno task bench --json): ${what}`);
  };
  const isObj = (v: unknown): v is Record<string, unknown> =>
    typeof v === "object" && v !== null && !Array.isArray(v);
  const num = (o: Record<string, unknown>, k: string, where: string, optional = false) => {
    const v = o[k];
    if (v === undefined && optional) return;
    if (typeof v !== "number" || !Number.isFinite(v)) fail(`${where}.${k} is not a number`);
  };
  if (!isObj(value)) return fail("the top level is not an object");
  if (typeof value.adapter !== "string") fail("adapter is not a string");
  if (typeof value.quick !== "boolean") fail("quick is not true or false");
  const c = value.ceilings;
  if (!isObj(c)) return fail("ceilings is not an object");
  num(c, "copyGBs", "ceilings");
  num(c, "f32GFlops", "ceilings");
  num(c, "f16GFlops", "ceilings", true);
  if (typeof c.timing !== "string") fail("ceilings.timing is not a string");
  if (!Array.isArray(value.rows) || value.rows.length === 0) fail("rows is not a list of cases");
  (value.rows as unknown[]).forEach((r, i) => {
    const where = `rows[${i}]`;
    if (!isObj(r)) return fail(`${where} is not an object`);
    if (typeof r.kernel !== "string" || typeof r.shape !== "string") {
      fail(`${where} lacks kernel or shape`);
    }
    for (const k of ["ms", "gflops", "gbs"]) num(r, k, where);
    for (const k of ["flopsPct", "bytesPct"]) num(r, k, where, true);
  });
  return value as unknown as BenchReport;
}
