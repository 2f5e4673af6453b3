/**
 * `deno task bench --model`: what the released model would cost on this
 * adapter, from one block of each component at released width.
 *
 * Each component is built in memory from seeded random weights in the
 * released layout (`src/checkpoint/`: nf4 and fp8 Linears) and loaded by the
 * same loaders as a real checkpoint: a DiT with one and with two blocks (the
 * difference is one block; the rest is the globals), timed on the cond pass
 * and projected to both passes, one Qwen3-VL-8B decoder
 * layer, and the whole Flux2 VAE decoder. They run at real shapes with a
 * token count that can be scaled down (`--image-tokens`; software adapters
 * default to 64 of the 4096) and are projected back: GEMMs and norms grow
 * linearly with tokens, attention quadratically (attention is timed alone at
 * the measured shape to split the two). Then:
 *
 *   sampling step = cond forward (512 text + 4096 image tokens) + uncond
 *                   forward (4096), each = globals + 34 blocks
 *   text encoding = 36 layers at 512 tokens
 *   VAE decode    = the decoder at 1024² (measured at `--vae-size`, scaled by
 *                   area, its mid-block attention by area²)
 *   V4_QUALITY_48 = text encoding + 48 steps + VAE decode (weights resident;
 *                   loading and host I/O not counted)
 *
 * CPU overhead: the JavaScript time spent recording a forward's dispatches
 * (everything before the GPU can start on the last of them), per block and
 * projected per step, beside the GPU time: when it comes near the step time
 * the GPU is starved.
 */
import { parseArgs } from "node:util";
import { ditTensors, textEncoderConfig, textEncoderTensors } from "../src/checkpoint/layout.ts";
import { RELEASED_DIMS, SMALL_DIMS } from "../src/checkpoint/dims.ts";
import type { CheckpointDims } from "../src/checkpoint/layout.ts";
import { randomSafetensors } from "../src/checkpoint/random.ts";
import { vaeTensors } from "../src/checkpoint/layout.ts";
import { GpuContext } from "../src/gpu/context.ts";
import { Tensor } from "../src/gpu/tensor.ts";
import { memorySource } from "../src/io/byte_source.ts";
import { Checkpoint } from "../src/io/checkpoint.ts";
import { SafetensorsFile } from "../src/io/safetensors.ts";
import { DiT } from "../src/models/dit.ts";
import { parseQwen3Config } from "../src/models/qwen3_config.ts";
import { qwen3LayerForward, uploadQwen3Layer } from "../src/models/qwen3_encoder.ts";
import { loadQwen3HostLayer } from "../src/models/qwen3_weights.ts";
import { loadVaeDecoder } from "../src/models/vae_decoder.ts";
import { attention } from "../src/ops/attention.ts";
import { ropeTables, uploadRopeTables } from "../src/ops/rope.ts";
import { randn } from "../src/tiny/random.ts";

/** The released model at 1024²: 64×64 latent tokens, text tokens of a long caption. */
export const REAL = { imageTokens: 4096, textTokens: 512, vaePx: 1024, steps: 48 } as const;

type Format = "nf4" | "fp8";

export interface Timed {
  /** Median wall time of a run (recording + GPU), ms. */
  ms: number;
  /** Median JavaScript time recording it, ms. */
  recordMs: number;
  /** Command buffers submitted per run. */
  submits: number;
}

/** How many timed runs, and whether a warm-up run goes first. */
interface Reps {
  reps: number;
  warmup: boolean;
}

/** Runs `fn` once to warm up (kernel compilation), then `reps` times: record, wait, median. */
async function timeRun(ctx: GpuContext, r: Reps, fn: () => Tensor | void): Promise<Timed> {
  const once = async () => {
    const s0 = ctx.submitCount, t0 = performance.now();
    const out = fn();
    const rec = performance.now() - t0;
    await ctx.sync();
    const ms = performance.now() - t0;
    if (out) out.release();
    return { ms, recordMs: rec, submits: ctx.submitCount - s0 };
  };
  if (r.warmup) await once();
  const runs: Timed[] = [];
  for (let i = 0; i < r.reps; i++) runs.push(await once());
  const med = (k: keyof Timed) => {
    const v = runs.map((r) => r[k]).sort((a, b) => a - b);
    return v[Math.floor(v.length / 2)];
  };
  return { ms: med("ms"), recordMs: med("recordMs"), submits: med("submits") };
}

/**
 * Projects a run measured over `L` tokens to `real` tokens: everything but
 * attention × real/L, attention × (real/Lbig)² from a separate timing at
 * `Lbig` ≥ L tokens (at a handful of tokens attention is mostly fixed cost,
 * which would be scaled quadratically otherwise).
 */
function project(
  totalMs: number,
  att: { atL: Timed; big: Timed; L: number; Lbig: number },
  real: number,
): number {
  const attL = Math.min(att.atL.ms, totalMs);
  return (totalMs - attL) * (real / att.L) + att.big.ms * (real / att.Lbig) ** 2;
}

/** Tokens of the second attention timing: up to 1024, never more than the real count. */
const attentionTokens = (L: number, real: number) => Math.max(L, Math.min(real, 1024));

/** Times attention over `L` and over {@link attentionTokens} rows of `[heads, d]` q and `[kvHeads, d]` k/v. */
async function timeAttention(
  ctx: GpuContext,
  reps: Reps,
  L: number,
  real: number,
  heads: number,
  kvHeads: number,
  d: number,
  causal: boolean,
): Promise<{ atL: Timed; big: Timed; L: number; Lbig: number }> {
  const at = async (n: number) => {
    const q = randomTensor(ctx, [n, heads, d], 3, "bench q");
    const k = randomTensor(ctx, [n, kvHeads, d], 4, "bench k");
    const v = randomTensor(ctx, [n, kvHeads, d], 5, "bench v");
    const t = await timeRun(
      ctx,
      reps,
      () => attention(ctx, q, k, v, { causal, scale: 1 / Math.sqrt(d) }),
    );
    for (const x of [q, k, v]) x.release();
    return t;
  };
  const Lbig = attentionTokens(L, real);
  const atL = await at(L);
  return { atL, big: Lbig === L ? atL : await at(Lbig), L, Lbig };
}

const randomTensor = (ctx: GpuContext, shape: number[], seed: number, label: string) =>
  Tensor.fromF32(ctx, randn(shape.reduce((a, b) => a * b, 1), seed), shape, "f32", label);

export interface DiTResult {
  format: Format;
  /** The cond pass at the measured tokens: DiTs of one and two blocks, attention alone. */
  measured: { warmup: Timed; oneBlock: Timed; twoBlocks: Timed; attention: AttentionTiming };
  /** Projected to the real token counts, ms. */
  condBlockMs: number;
  uncondBlockMs: number;
  condForwardMs: number;
  uncondForwardMs: number;
  stepS: number;
  /** JavaScript recording per step (both forwards, 34 blocks each), ms. */
  cpuRecordMsPerStep: number;
  submitsPerStep: number;
}

async function ditBench(
  ctx: GpuContext,
  format: Format,
  sizes: Sizes,
  reps: Reps,
): Promise<DiTResult> {
  const c = { ...sizes.dims.dit, numLayers: 2 };
  // What no shape reveals (sizes, the block count included, come from the weights).
  const rope = { ropeTheta: c.ropeTheta, mropeSection: c.mropeSection, normEps: c.normEps };
  const file = await SafetensorsFile.open(
    memorySource(`random ${format} DiT`, randomSafetensors(ditTensors(format, c), 7)),
  );
  const one = await DiT.load(
    ctx,
    Checkpoint.fromFiles("DiT, 1 block", [file], (n) => !n.startsWith("layers.1.")),
    { name: "bench.dit1", config: rope },
  );
  const two = await DiT.load(ctx, Checkpoint.fromFiles("DiT, 2 blocks", [file]), {
    name: "bench.dit2",
    config: rope,
  });
  const { gh, gw, text } = sizes;
  const latents = randomTensor(ctx, [gh * gw, c.inChannels], 1, "bench latents");
  const features = randomTensor(ctx, [text, c.llmFeaturesDim], 2, "bench features");
  // The cond pass (text + image tokens) is measured; the uncond pass runs the
  // same blocks over the image tokens alone, so it is projected from it.
  const inputs = { latents, features, t: 0.7, gh, gw };
  const L = gh * gw + text;
  const realCond = REAL.imageTokens + REAL.textTokens;
  // Both DiTs run the same kernels: one warm-up forward compiles them all
  // before anything is timed (the larger DiT's weights still go out in its
  // first timed run: a copy, small beside a forward; the median drops it).
  const noWarmup = { ...reps, warmup: false };
  const warm = await timeRun(ctx, noWarmup, () => one.forward(ctx, inputs));
  const m = {
    warmup: warm,
    oneBlock: await timeRun(ctx, noWarmup, () => one.forward(ctx, inputs)),
    twoBlocks: await timeRun(ctx, noWarmup, () => two.forward(ctx, inputs)),
    attention: await timeAttention(
      ctx,
      reps,
      L,
      realCond,
      c.numHeads,
      c.numHeads,
      c.headDim,
      false,
    ),
  };
  const blockS = Math.max(0, m.twoBlocks.ms - m.oneBlock.ms);
  const globalsS = Math.max(0, m.oneBlock.ms - blockS);
  const recBlock = Math.max(0, m.twoBlocks.recordMs - m.oneBlock.recordMs);
  const recGlobals = Math.max(0, m.oneBlock.recordMs - recBlock);
  const subBlock = Math.max(0, m.twoBlocks.submits - m.oneBlock.submits);
  const n = sizes.dims.dit.numLayers;
  const pass = (tokens: number) => {
    const block = project(blockS, m.attention, tokens);
    return { block, forward: globalsS * (tokens / L) + n * block };
  };
  const cond = pass(realCond), uncond = pass(REAL.imageTokens);
  const recPerForward = recGlobals + n * recBlock;
  const submitsPerForward = m.oneBlock.submits + (n - 1) * subBlock;
  for (const t of [latents, features]) t.release();
  one.release();
  two.release();
  file.close();
  return {
    format,
    measured: m,
    condBlockMs: cond.block,
    uncondBlockMs: uncond.block,
    condForwardMs: cond.forward,
    uncondForwardMs: uncond.forward,
    stepS: (cond.forward + uncond.forward) / 1000,
    cpuRecordMsPerStep: 2 * recPerForward,
    submitsPerStep: 2 * submitsPerForward,
  };
}

export interface TextResult {
  format: Format;
  measured: { layer: Timed; attention: AttentionTiming };
  layerMs: number;
  encodeS: number;
  cpuRecordMs: number;
}

async function textBench(
  ctx: GpuContext,
  format: Format,
  sizes: Sizes,
  reps: Reps,
): Promise<TextResult> {
  const dims = sizes.dims.qwen3, prefix = "model.language_model.";
  const all = textEncoderTensors(format, dims);
  const layer0 = new Map([...all].filter(([n]) => n.startsWith(`${prefix}layers.0.`)));
  const file = await SafetensorsFile.open(
    memorySource(`random ${format} Qwen3 layer`, randomSafetensors(layer0, 8)),
  );
  const store = Checkpoint.fromFiles("Qwen3 layer 0", [file]);
  const config = parseQwen3Config(
    JSON.stringify(textEncoderConfig(format, dims)),
    "bench text_encoder/config.json",
  );
  const w = uploadQwen3Layer(
    ctx,
    await loadQwen3HostLayer(store, config, prefix, 0),
    "bench.qwen3",
  );
  file.close();
  const L = sizes.text, d = config.headDim;
  const positions = Int32Array.from({ length: 3 * L }, (_, i) => Math.floor(i / 3));
  const rope = uploadRopeTables(ctx, ropeTables(positions, d, config.ropeTheta, null));
  const x = randomTensor(ctx, [L, config.hiddenSize], 9, "bench hidden");
  const layer = await timeRun(ctx, reps, () => {
    // The layer consumes its input: give it a copy's worth of fresh hidden state.
    const h = Tensor.empty(ctx, x.shape, "f32", "bench hidden copy");
    ctx.copy(x.buffer, x.offset, h.buffer, h.offset, x.byteSize);
    return qwen3LayerForward(ctx, config, w, h, rope);
  });
  const att = await timeAttention(
    ctx,
    reps,
    L,
    REAL.textTokens,
    config.numHeads,
    config.numKvHeads,
    d,
    true,
  );
  x.release();
  rope.release();
  for (const t of [w.inputNorm, w.qNorm, w.kNorm, w.postNorm]) t.release();
  for (const l of [w.q, w.k, w.v, w.o, w.gate, w.up, w.down]) l.release();
  const layerMs = project(layer.ms, att, REAL.textTokens);
  return {
    format,
    measured: { layer, attention: att },
    layerMs,
    encodeS: (dims.layers * layerMs) / 1000,
    cpuRecordMs: dims.layers * layer.recordMs,
  };
}

export interface VaeResult {
  measured: { px: number; decode: Timed; attention: AttentionTiming };
  decodeS: number;
}

async function vaeBench(ctx: GpuContext, sizes: Sizes, reps: Reps): Promise<VaeResult> {
  const c = sizes.dims.vae;
  const file = await SafetensorsFile.open(
    memorySource("random VAE", randomSafetensors(vaeTensors(c), 13)),
  );
  const vae = await loadVaeDecoder(ctx, Checkpoint.fromFiles("VAE", [file]), { config: c });
  file.close();
  const s = sizes.vaePx / 8, C = c.blockOutChannels[c.blockOutChannels.length - 1];
  const latent = randomTensor(ctx, [s, s, c.latentChannels], 14, "bench latent");
  const decode = await timeRun(ctx, reps, () => vae.decode(latent));
  // The mid block's attention: one head of C channels over the latent's pixels.
  const realL = (REAL.vaePx / 8) ** 2;
  const att = await timeAttention(ctx, reps, s * s, realL, 1, 1, C, false);
  latent.release();
  vae.release();
  // Work grows with the pixels (L = latent pixels), attention with their square.
  return {
    measured: { px: sizes.vaePx, decode, attention: att },
    decodeS: project(decode.ms, att, realL) / 1000,
  };
}

type AttentionTiming = Awaited<ReturnType<typeof timeAttention>>;

interface Sizes {
  /** The released dimensions, or the tiny ones of a smoke test. */
  dims: CheckpointDims;
  gh: number;
  gw: number;
  text: number;
  vaePx: number;
}

export const MODEL_BENCH_USAGE = `usage: bench --model [flags]

Times one released-size block of each component (random weights, nf4 and
fp8) and projects the released model's seconds per sampling step, text
encoding, VAE decode and V4_QUALITY_48 image at 1024².

  --image-tokens N   image tokens measured, a square (default 4096 = 1024²;
                     49 on software adapters); text tokens scale with them
  --vae-size PX      output size of the measured VAE decode, a multiple of 8
                     (default 1024; 64 on software adapters)
  --formats LIST     nf4,fp8 (default both)
  --reps N           timed runs per measurement after a warm-up (default 3; 1 on
                     software adapters)
  --json             machine-readable output (progress stays on stderr)
  --small            the tiny test dimensions instead of the released ones: a quick
                     check that the benchmark runs (its numbers project nothing)
`;

export async function runModelBench(args: string[]): Promise<number> {
  let values;
  try {
    values = parseArgs({
      args,
      options: {
        "image-tokens": { type: "string" },
        "vae-size": { type: "string" },
        formats: { type: "string", default: "nf4,fp8" },
        reps: { type: "string" },
        json: { type: "boolean", default: false },
        small: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    }).values;
  } catch (e) {
    console.error(`bench --model: ${(e as Error).message}\n\n${MODEL_BENCH_USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(MODEL_BENCH_USAGE);
    return 0;
  }
  const bad = (msg: string) => {
    console.error(`bench --model: ${msg}\n\n${MODEL_BENCH_USAGE}`);
    return 2;
  };
  const formats = values.formats.split(",") as Format[];
  if (formats.length === 0 || formats.some((f) => f !== "nf4" && f !== "fp8")) {
    return bad(`--formats must list nf4 and/or fp8 (got ${values.formats})`);
  }
  const int = (s: string | undefined) => (s === undefined ? undefined : Number(s));
  const ctx = await GpuContext.create();
  try {
    const software = ctx.isSoftware;
    // Software: 49 + 6 tokens, one 64-row GEMM tile (more rows would cost a second tile).
    const imageTokens = int(values["image-tokens"]) ?? (software ? 49 : REAL.imageTokens);
    const side = Math.round(Math.sqrt(imageTokens));
    if (!Number.isSafeInteger(imageTokens) || side * side !== imageTokens || side < 1) {
      return bad(`--image-tokens must be a square number (got ${values["image-tokens"]})`);
    }
    const vaePx = int(values["vae-size"]) ?? (software ? 64 : REAL.vaePx);
    if (!Number.isSafeInteger(vaePx) || vaePx < 8 || vaePx % 8 !== 0) {
      return bad(`--vae-size must be a positive multiple of 8 (got ${values["vae-size"]})`);
    }
    const n = int(values.reps) ?? (software ? 1 : 3);
    if (!Number.isSafeInteger(n) || n < 1) {
      return bad(`--reps must be a positive integer (got ${values.reps})`);
    }
    // Every measurement follows a warm-up run (the first compiles kernels and sends weights).
    const reps: Reps = { reps: n, warmup: true };
    const text = Math.max(1, Math.round((REAL.textTokens * imageTokens) / REAL.imageTokens));
    const dims = values.small ? SMALL_DIMS : RELEASED_DIMS;
    const sizes: Sizes = { dims, gh: side, gw: side, text, vaePx };
    const progress = (line: string) => console.error(line);
    const t0 = performance.now();
    const dit: DiTResult[] = [], enc: TextResult[] = [];
    for (const f of formats) {
      progress(`DiT blocks, ${f}, ${imageTokens} image + ${text} text tokens …`);
      dit.push(await ditBench(ctx, f, sizes, reps));
      progress(`Qwen3 layer, ${f}, ${text} tokens …`);
      enc.push(await textBench(ctx, f, sizes, reps));
    }
    progress(`VAE decoder at ${vaePx}² …`);
    const vae = await vaeBench(ctx, sizes, reps);
    const totals = formats.map((f, i) => ({
      format: f,
      v4Quality48S: enc[i].encodeS + REAL.steps * dit[i].stepS + vae.decodeS,
    }));
    const result = {
      adapter: ctx.describe(),
      date: new Date().toISOString(),
      dims: values.small ? "small (smoke test: projects nothing)" : "released",
      measured: { imageTokens, textTokens: text, vaePx, reps },
      projectedTo: REAL,
      dit,
      textEncoder: enc,
      vae,
      totals,
      seconds: (performance.now() - t0) / 1000,
    };
    if (values.json) console.log(JSON.stringify(result, null, 2));
    else printTable(result);
    return 0;
  } finally {
    ctx.destroy();
  }
}

function printTable(r: {
  adapter: string;
  measured: { imageTokens: number; textTokens: number; vaePx: number };
  dit: DiTResult[];
  textEncoder: TextResult[];
  vae: VaeResult;
  totals: { format: Format; v4Quality48S: number }[];
}): void {
  const f = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 1 ? n.toFixed(2) : n.toPrecision(3));
  const m = r.measured;
  console.log(`adapter: ${r.adapter}`);
  console.log(
    `measured at ${m.imageTokens} image + ${m.textTokens} text tokens, VAE ${m.vaePx}²; ` +
      `projected to 1024² (${REAL.imageTokens} + ${REAL.textTokens} tokens)`,
  );
  const rows: [string, (i: number) => string][] = [
    ["DiT block, cond (ms)", (i) => f(r.dit[i].condBlockMs)],
    ["DiT block, uncond (ms)", (i) => f(r.dit[i].uncondBlockMs)],
    ["sampling step, both DiTs (s)", (i) => f(r.dit[i].stepS)],
    ["CPU recording per step (ms)", (i) => f(r.dit[i].cpuRecordMsPerStep)],
    ["submits per step", (i) => String(r.dit[i].submitsPerStep)],
    ["Qwen3 layer (ms)", (i) => f(r.textEncoder[i].layerMs)],
    ["text encoding, 36 layers (s)", (i) => f(r.textEncoder[i].encodeS)],
    ["VAE decode 1024² (s)", () => f(r.vae.decodeS)],
    ["V4_QUALITY_48 image (s)", (i) => f(r.totals[i].v4Quality48S)],
  ];
  const head = ["projected", ...r.dit.map((d) => d.format)];
  const table = rows.map(([name, cell]) => [name, ...r.dit.map((_, i) => cell(i))]);
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ");
  console.log(line(head));
  for (const row of table) console.log(line(row));
}
