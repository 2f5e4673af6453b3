/// <reference lib="dom" />
/**
 * The benchmark page (`web/bench.html`, bundled to `web/dist/bench.js`): runs
 * src/bench/report.ts, the code behind `deno task bench`, on this browser's
 * adapter, and shows a table and a bar chart of each case's achieved share
 * of the ceilings. "Export JSON" gives the report in the schema of
 * `deno task bench --json`. `?quick` ticks quick sizes.
 *
 * `document.body.dataset.state`: `loading` → `ready` | `no-webgpu`, then
 * `running` → `done` | `error`. The benchmark owns the page while it runs,
 * so it runs on this thread (the generation page keeps GPU work in a worker).
 */
import { createGpu, type GpuContext } from "./ideogram4.ts";
import type { BenchRow } from "../src/bench/cases.ts";
import { ceilingsLine, fmtNumber, runBenchmark } from "../src/bench/report.ts";
import { el } from "./dom.ts";

const ui = {
  adapter: el("adapter"),
  noWebGpu: el("no-webgpu"),
  quick: el<HTMLInputElement>("quick"),
  run: el<HTMLButtonElement>("run"),
  exportLink: el<HTMLAnchorElement>("export"),
  status: el("status"),
  ceilings: el("ceilings"),
  table: el<HTMLTableElement>("table"),
  chart: el("chart") as unknown as SVGSVGElement,
};
const HEAD = ["kernel", "shape", "ms", "GFLOP/s", "% FMA peak", "GB/s", "% copy"];
let gpu: GpuContext | undefined;
let exportUrl: string | undefined;

function setState(s: string): void {
  document.body.dataset.state = s;
  ui.run.disabled = s === "running" || !gpu;
}

function addRow(r: BenchRow): void {
  const tr = ui.table.insertRow();
  for (
    const v of [
      r.kernel,
      r.shape,
      fmtNumber(r.ms),
      fmtNumber(r.gflops),
      fmtNumber(r.flopsPct),
      fmtNumber(r.gbs),
      fmtNumber(r.bytesPct),
    ]
  ) tr.insertCell().textContent = v;
}

const SVG = "http://www.w3.org/2000/svg";
/** Horizontal bars per case: % of the FMA ceiling and % of the copy ceiling (0–100%). */
function drawChart(rows: BenchRow[]): void {
  const labelW = 260, barW = 360, rowH = 26, w = labelW + barW + 60;
  ui.chart.replaceChildren();
  ui.chart.setAttribute("width", String(w));
  ui.chart.setAttribute("height", String(rows.length * rowH + 20));
  const node = (tag: string, attrs: Record<string, string | number>, text?: string) => {
    const n = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
    if (text !== undefined) n.textContent = text;
    ui.chart.append(n);
  };
  rows.forEach((r, i) => {
    const y = i * rowH + 4;
    node("text", { x: 0, y: y + 15, "font-size": 11 }, `${r.kernel} ${r.shape}`.slice(0, 44));
    const bars: [number | undefined, string][] = [[r.flopsPct, "#3b82f6"], [
      r.bytesPct,
      "#f59e0b",
    ]];
    bars.forEach(([pct, colour], j) => {
      const len = Math.max(1, Math.min(100, pct ?? 0) / 100 * barW);
      node("rect", { x: labelW, y: y + j * 10, width: len, height: 9, fill: colour });
      node(
        "text",
        { x: labelW + len + 4, y: y + j * 10 + 8, "font-size": 9 },
        `${fmtNumber(pct)}%`,
      );
    });
  });
}

async function run(): Promise<void> {
  if (!gpu) return;
  setState("running");
  ui.table.replaceChildren();
  ui.table.createTHead().insertRow().append(...HEAD.map((h) => {
    const th = document.createElement("th");
    th.textContent = h;
    return th;
  }));
  ui.chart.replaceChildren();
  ui.exportLink.hidden = true;
  const started = performance.now();
  try {
    const report = await runBenchmark(gpu, {
      quick: ui.quick.checked,
      onStage: (s) => ui.status.textContent = `${s}…`,
      onRow: addRow,
    });
    ui.ceilings.textContent = `ceilings: ${ceilingsLine(report.ceilings)}` +
      (report.quick ? " (quick sizes)" : "");
    drawChart(report.rows);
    if (exportUrl) URL.revokeObjectURL(exportUrl);
    exportUrl = URL.createObjectURL(
      new Blob([JSON.stringify(report, null, 2) + "\n"], { type: "application/json" }),
    );
    ui.exportLink.href = exportUrl;
    ui.exportLink.hidden = false;
    ui.status.textContent = `done in ${((performance.now() - started) / 1000).toFixed(1)} s`;
    setState("done");
  } catch (e) {
    ui.status.textContent = `the benchmark failed: ${e instanceof Error ? e.message : e}`;
    setState("error");
  }
}

async function start(): Promise<void> {
  ui.quick.checked = new URLSearchParams(location.search).has("quick");
  ui.run.addEventListener("click", run);
  if (!("gpu" in navigator) || !navigator.gpu) {
    ui.noWebGpu.hidden = false;
    ui.noWebGpu.textContent = "WebGPU is not available in this browser: nothing to measure.";
    setState("no-webgpu");
    return;
  }
  try {
    gpu = await createGpu();
  } catch (e) {
    ui.noWebGpu.hidden = false;
    ui.noWebGpu.textContent = `No WebGPU adapter or device: ${e instanceof Error ? e.message : e}`;
    setState("no-webgpu");
    return;
  }
  ui.adapter.textContent = `WebGPU adapter: ${gpu.describe()}`;
  setState("ready");
}

start();
