/**
 * `deno task bench --peers`: the project's kernels against the two WebGPU ML
 * libraries a user would pick instead, onnxruntime-web (WebGPU EP) and
 * TensorFlow.js (WebGPU backend), on the same shapes in one process.
 *
 * Each case builds the project's runner and every peer's, then times them in
 * rounds, rotating the order within each round (so a slow spell of a shared
 * machine hits all of them), and reports the median per implementation and
 * the ratio project / peer (> 1: the project is faster). Peers are
 * benchmark-only dependencies; nothing under src/ imports them.
 */
import type { GpuContext } from "../../src/gpu/context.ts";
import type { Ceilings } from "../../src/bench/ceilings.ts";
import { ORT_VERSION, ortConv, ortGemm, ortGqa, ortMatMulNBits, ortMha } from "./ort.ts";
import { projectAttention, projectConv, projectLinear } from "./project.ts";
import { implausibleRate, type PeerCase, type Runner, timeRunner } from "./runner.ts";
import { TFJS_VERSION, tfjsConv, tfjsMatMul } from "./tfjs.ts";

interface Impl {
  name: string;
  make: () => Runner | Promise<Runner>;
}

interface CaseSpec extends PeerCase {
  project: Impl;
  peers: Impl[];
}

export interface PeerResult {
  name: string;
  ms: number;
  gflops: number;
  /** Every round's ms, for judging noise. */
  samples: number[];
  /** Peers only: project GFLOP/s ÷ this peer's. */
  ratio?: number;
}

export interface PeerRow extends PeerCase {
  project: PeerResult;
  /** % of the adapter's FMA ceiling reached by the project. */
  projectFmaPct?: number;
  peers: (PeerResult | { name: string; error: string })[];
  /** Project ÷ best peer, by GFLOP/s. */
  vsBest?: number;
}

export interface PeerOptions {
  /** "quick" (the issue's sizes), "model" (the released model's, tokens scaled), or "all". */
  shapes: "quick" | "model" | "all";
  /** Token count of the model shapes (4096 image + 512 text at 1024² is 4608). */
  tokens: number;
  rounds: number;
  /** Target seconds of one timed sample (reps are chosen from a warm-up run). */
  sampleSeconds: number;
  /** Only cases whose kernel or shape contains this text. */
  filter?: string;
  log?: (line: string) => void;
}

function gemmCase(
  ctx: GpuContext,
  adapter: GPUAdapter,
  format: string,
  [m, n, k]: [number, number, number],
  name = "",
): CaseSpec {
  const peers: Impl[] = format === "nf4"
    ? [32, 64].map((b) => ({
      name: `ORT MatMulNBits 4-bit b${b}`,
      make: () => ortMatMulNBits(m, n, k, b),
    }))
    : [
      { name: "ORT Gemm f32 transB", make: () => ortGemm(m, n, k) },
      { name: "tfjs matMul f32", make: () => tfjsMatMul(adapter, m, n, k) },
    ];
  return {
    kernel: `linear ${format}${name ? ` (${name})` : ""}`,
    shape: `${m}x${n}x${k}`,
    flops: 2 * m * n * k,
    dtype: "f32",
    project: { name: `project linear ${format}`, make: () => projectLinear(ctx, format, m, n, k) },
    peers,
  };
}

function attentionCase(
  ctx: GpuContext,
  l: number,
  h: number,
  hkv: number,
  d: number,
  causal: boolean,
): CaseSpec {
  const peer: Impl = causal || hkv !== h
    ? { name: "ORT GroupQueryAttention", make: () => ortGqa(l, h, hkv, d) }
    : { name: "ORT MultiHeadAttention", make: () => ortMha(l, h, d) };
  return {
    kernel: `attention${causal ? " causal" : ""}`,
    shape: `L${l} H${h}/${hkv} D${d}`,
    flops: 4 * l * l * d * h * (causal ? 0.5 : 1),
    dtype: "f32",
    project: {
      name: "project attention",
      make: () => projectAttention(ctx, l, h, hkv, d, causal),
    },
    peers: [peer],
  };
}

function convCase(
  ctx: GpuContext,
  adapter: GPUAdapter,
  hw: number,
  cin: number,
  cout: number,
): CaseSpec {
  return {
    kernel: "conv 3x3",
    shape: `${hw}x${hw} ${cin}->${cout}`,
    flops: 2 * hw * hw * cin * cout * 9,
    dtype: "f32",
    project: { name: "project conv2d", make: () => projectConv(ctx, hw, cin, cout) },
    peers: [
      { name: "ORT Conv f32", make: () => ortConv(hw, cin, cout) },
      { name: "tfjs conv2d f32", make: () => tfjsConv(adapter, hw, cin, cout) },
    ],
  };
}

/** The issue's quick sizes, which a software adapter runs in minutes. */
function quickCases(ctx: GpuContext, adapter: GPUAdapter): CaseSpec[] {
  return [
    gemmCase(ctx, adapter, "f32", [1024, 1024, 256]),
    gemmCase(ctx, adapter, "f32", [128, 4608, 4608]),
    gemmCase(ctx, adapter, "fp8", [128, 4608, 4608]),
    gemmCase(ctx, adapter, "nf4", [128, 4608, 4608]),
    attentionCase(ctx, 512, 2, 2, 256, false),
    attentionCase(ctx, 512, 8, 2, 128, true),
    convCase(ctx, adapter, 32, 128, 128),
    convCase(ctx, adapter, 128, 128, 3),
  ];
}

/**
 * The released model's shapes with `t` tokens: the DiT's GEMMs (qkv, out, MLP
 * up and down) in its nf4 and dense forms, the text encoder's (hidden 4096,
 * GQA 32/8), both attentions, and the VAE decoder's widest and last convs
 * (spatial size scaled with the token count).
 */
function modelCases(ctx: GpuContext, adapter: GPUAdapter, t: number): CaseSpec[] {
  const dit: [string, number, number][] = [
    ["DiT qkv", 13824, 4608],
    ["DiT out", 4608, 4608],
    ["DiT MLP up", 12288, 4608],
    ["DiT MLP down", 4608, 12288],
  ];
  const te: [string, number, number][] = [
    ["TE qkv", 6144, 4096],
    ["TE MLP up", 12288, 4096],
    ["TE MLP down", 4096, 12288],
  ];
  // The VAE's 512-channel level is at 1/8 of the image side: 128² at 1024² (t = 4608).
  const side = Math.max(8, Math.round(128 * Math.sqrt(t / 4608) / 8) * 8);
  return [
    ...dit.flatMap(([name, n, k]) =>
      ["nf4", "fp8", "f32"].map((f) => gemmCase(ctx, adapter, f, [t, n, k], name))
    ),
    ...te.map(([name, n, k]) => gemmCase(ctx, adapter, "nf4", [t, n, k], name)),
    attentionCase(ctx, t, 18, 18, 256, false),
    attentionCase(ctx, Math.min(t, 2048), 32, 8, 128, true),
    convCase(ctx, adapter, side, 512, 512),
    convCase(ctx, adapter, side * 8, 128, 3),
  ];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

async function measureCase(
  c: CaseSpec,
  opts: PeerOptions,
  fmaCeiling: number | undefined,
): Promise<PeerRow> {
  const impls = [c.project, ...c.peers];
  const runners: (Runner | string)[] = [];
  for (const impl of impls) {
    try {
      runners.push(await impl.make());
    } catch (e) {
      runners.push(e instanceof Error ? e.message.split("\n")[0] : String(e));
    }
  }
  if (typeof runners[0] === "string") throw new Error(`${c.project.name}: ${runners[0]}`);
  // Warm-up (pipelines, weight uploads), which also sizes the reps of a sample.
  const reps: number[] = [];
  for (let i = 0; i < impls.length; i++) {
    const r = runners[i];
    if (typeof r === "string") {
      reps.push(0);
      continue;
    }
    try {
      await r.check?.();
      // An untimed run first, so that every implementation's pipelines are built
      // before the reps are sized (peers' check() does this; the project has none).
      await timeRunner(r, 1);
      const ms = await timeRunner(r, 1);
      reps.push(Math.max(1, Math.min(50, Math.round((opts.sampleSeconds * 1000) / ms))));
    } catch (e) {
      r.release();
      runners[i] = e instanceof Error ? e.message.split("\n")[0] : String(e);
      reps.push(0);
    }
  }
  const samples: number[][] = impls.map(() => []);
  for (let round = 0; round < opts.rounds; round++) {
    for (let j = 0; j < impls.length; j++) {
      const i = (j + round) % impls.length;
      const r = runners[i];
      if (typeof r !== "string") samples[i].push(await timeRunner(r, reps[i]));
    }
  }
  for (const r of runners) if (typeof r !== "string") r.release();
  const result = (i: number): PeerResult => {
    const ms = median(samples[i]);
    return { name: impls[i].name, ms, gflops: c.flops / (ms * 1e6), samples: samples[i] };
  };
  const project = result(0);
  const peers = c.peers.map((p, j): PeerResult | { name: string; error: string } => {
    const r = runners[j + 1];
    if (typeof r === "string") return { name: p.name, error: r };
    const res = result(j + 1);
    const implausible = implausibleRate(res.gflops, fmaCeiling);
    if (implausible) return { name: p.name, error: implausible };
    return { ...res, ratio: project.gflops / res.gflops };
  });
  const ok = peers.filter((p): p is PeerResult => "ms" in p);
  const best = ok.length ? Math.max(...ok.map((p) => p.gflops)) : undefined;
  const { kernel, shape, flops, dtype } = c;
  return { kernel, shape, flops, dtype, project, peers, vsBest: best && project.gflops / best };
}

/** Runs the selected cases; rows come back in case order. */
export async function runPeers(
  ctx: GpuContext,
  ceilings: Ceilings | undefined,
  opts: PeerOptions,
): Promise<{ versions: Record<string, string>; rows: PeerRow[] }> {
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new Error("no WebGPU adapter for the peer libraries");
  let cases = [
    ...(opts.shapes !== "model" ? quickCases(ctx, adapter) : []),
    ...(opts.shapes !== "quick" ? modelCases(ctx, adapter, opts.tokens) : []),
  ];
  if (opts.filter) {
    const f = opts.filter;
    cases = cases.filter((c) => c.kernel.includes(f) || c.shape.includes(f));
  }
  const rows: PeerRow[] = [];
  for (const c of cases) {
    const row = await measureCase(c, opts, ceilings?.f32GFlops);
    if (ceilings?.f32GFlops) row.projectFmaPct = (100 * row.project.gflops) / ceilings.f32GFlops;
    rows.push(row);
    opts.log?.(formatRow(row).join("\n"));
  }
  return {
    versions: { "onnxruntime-web": ORT_VERSION, "@tensorflow/tfjs-core": TFJS_VERSION },
    rows,
  };
}

function fmt(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return "-";
  return n >= 100 ? n.toFixed(0) : n.toPrecision(3);
}

const WIDTHS = [24, 22, 28, 9, 8, 6, 12];

function line(cells: string[]): string {
  return cells.map((c, i) => c.padEnd(WIDTHS[i])).join(" ").trimEnd();
}

export const PEER_HEADER = line(
  ["kernel", "shape", "implementation", "ms", "GFLOP/s", "% FMA", "project/peer"],
);

/** A case as table lines: the project first (vs the best peer), then each peer with project / peer. */
export function formatRow(r: PeerRow): string[] {
  return [
    line([
      r.kernel,
      r.shape,
      r.project.name,
      fmt(r.project.ms),
      fmt(r.project.gflops),
      fmt(r.projectFmaPct),
      r.vsBest ? `${fmt(r.vsBest)}x best` : "-",
    ]),
    ...r.peers.map((p) =>
      line(
        "error" in p
          ? ["", "", p.name, "failed:", p.error.slice(0, 100)]
          : ["", "", p.name, fmt(p.ms), fmt(p.gflops), "", `${fmt(p.ratio)}x`],
      )
    ),
  ];
}
