/**
 * The benchmark report's schema check and the side-by-side table of
 * `deno task bench:compare`, on hand-written reports (no GPU), the
 * command's answers to files that are missing or not reports (exit 2), and
 * the peer benchmark's refusal of rates no adapter can reach.
 */
import {
  compareBenchReports,
  formatBenchReport,
  parseBenchReport,
} from "../../src/bench/report.ts";
import type { BenchReport } from "../../src/bench/report.ts";
import { IMPLAUSIBLE_FACTOR, implausibleRate } from "../../bench/peers/runner.ts";
import { assert, assertEquals } from "../assert.ts";

const A: BenchReport = {
  adapter: "lavapipe",
  quick: true,
  ceilings: { copyGBs: 10, f32GFlops: 100, timing: "queue" },
  rows: [
    {
      kernel: "linear nf4",
      shape: "512x512x576",
      ms: 4,
      gflops: 50,
      flopsPct: 50,
      gbs: 2,
      bytesPct: 20,
    },
    {
      kernel: "attention",
      shape: "L512 d256",
      ms: 10,
      gflops: 20,
      flopsPct: 20,
      gbs: 1,
      bytesPct: 10,
    },
  ],
};
const B: BenchReport = {
  adapter: "SwiftShader",
  quick: true,
  ceilings: { copyGBs: 5, f32GFlops: 80, f16GFlops: 160, timing: "timestamp-query" },
  rows: [
    { kernel: "linear nf4", shape: "512x512x576", ms: 2, gflops: 100, flopsPct: 125, gbs: 4 },
    { kernel: "conv3x3", shape: "64x64 c128", ms: 3, gflops: 9, gbs: 1 },
  ],
};

Deno.test("bench report: a report round-trips through JSON; bad ones name the field", () => {
  assertEquals(parseBenchReport(JSON.parse(JSON.stringify(B)), "b.json"), B);
  const bad: [unknown, string][] = [
    [[], "the top level is not an object"],
    [{ ...A, quick: "yes" }, "quick is not true or false"],
    [{ ...A, ceilings: { ...A.ceilings, copyGBs: "fast" } }, "ceilings.copyGBs is not a number"],
    [{ ...A, rows: [] }, "rows is not a list of cases"],
    [{ ...A, rows: [{ ...A.rows[0], ms: null }] }, "rows[0].ms is not a number"],
    [{ ...A, rows: [A.rows[0], { shape: "x" }] }, "rows[1] lacks kernel or shape"],
  ];
  for (const [value, why] of bad) {
    let said = "";
    try {
      parseBenchReport(value, "x.json");
    } catch (e) {
      said = (e as Error).message;
    }
    assertEquals(said, `x.json: not a benchmark report (deno task bench --json): ${why}`);
  }
});

Deno.test("bench report: the table, and two runs side by side with the speed-up", () => {
  const one = formatBenchReport(A);
  assertEquals(one[0], "adapter: lavapipe  (quick sizes)");
  assert(one[2].startsWith("kernel      shape"), one[2]);
  assertEquals(one.length, 2 + 1 + A.rows.length);
  const cmp = compareBenchReports(A, B, ["deno.json", "chrome.json"]);
  assert(cmp[0].startsWith("deno.json: lavapipe (quick); copy 10.0 GB/s"), cmp[0]);
  assert(cmp[1].includes("FMA f16 160 GFLOP/s"), cmp[1]);
  const rows = cmp.slice(3).map((l) => l.split(/\s{2,}/));
  assertEquals(rows, [
    ["linear nf4", "512x512x576", "4.00", "50.0% / 20.0%", "2.00", "125% / -%", "2.00×"],
    ["attention", "L512 d256", "10.0", "20.0% / 10.0%", "-", "-", "-"],
    ["conv3x3", "64x64 c128", "-", "-", "3.00", "-% / -%", "-"],
  ]);
});

Deno.test("bench:compare: prints the table; exit 2 for a missing file or a non-report", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ideogram4-bench-" });
  try {
    await Deno.writeTextFile(`${dir}/a.json`, JSON.stringify(A));
    await Deno.writeTextFile(`${dir}/b.json`, JSON.stringify(B));
    await Deno.writeTextFile(`${dir}/bad.json`, "{ nope");
    const run = async (...args: string[]) => {
      const r = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-read", "bench/compare.ts", ...args],
        cwd: new URL("../../", import.meta.url),
        env: { NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const d = new TextDecoder();
      return { code: r.code, out: d.decode(r.stdout), err: d.decode(r.stderr) };
    };
    const ok = await run(`${dir}/a.json`, `${dir}/b.json`);
    assertEquals(ok.code, 0, ok.err);
    assert(ok.out.includes("b.json speed-up") && ok.out.includes("2.00×"), ok.out);
    const missing = await run(`${dir}/a.json`, `${dir}/none.json`);
    assertEquals(missing.code, 2);
    assert(missing.err.includes("none.json"), missing.err);
    const notJson = await run(`${dir}/bad.json`, `${dir}/a.json`);
    assertEquals(notJson.code, 2);
    assert(notJson.err.includes("bad.json: not JSON"), notJson.err);
    assertEquals((await run(`${dir}/a.json`)).code, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bench --peers: a peer's rate over 4× the FMA ceiling is refused as not run", () => {
  assertEquals(IMPLAUSIBLE_FACTOR, 4);
  assertEquals(implausibleRate(200, 51.9), undefined);
  assertEquals(implausibleRate(207.6, 51.9), undefined, "exactly 4×: still possible");
  const why = implausibleRate(24086, 51.9) ?? "";
  assert(why.startsWith("2.41e+4 GFLOP/s is over 4×"), why);
  assert(why.endsWith("the operation did not run"), why);
  assertEquals(implausibleRate(24086, undefined), undefined, "no ceiling measured: no judgement");
});
