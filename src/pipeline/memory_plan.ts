/**
 * Plans GPU memory for one generation: which transformers stay resident and
 * which stream their blocks, the peak of each stage, and the host→GPU weight
 * traffic streaming costs — measured, not estimated: the planner runs the
 * real code on a shape-only GPU context (`GpuContext.shapeOnly`, buffers
 * that are only sizes) over the checkpoint opened shape-only
 * (`ShapeOnlyStore`: headers, zeros for data). The real loaders and uploads
 * run, then the real forwards in the pipeline's order (`stages.ts`): the
 * text encoder on `textTokens` tokens, one or two guided sampling steps
 * (both DiTs, block streaming included), the VAE decode with its row
 * bands; the buffer pool's peak after each stage is the plan. Nothing is
 * dispatched and no weight is read, so a plan of the released model costs
 * its headers, and it works without a GPU.
 *
 * WebGPU cannot report how much memory a device has, so the caller states a
 * budget ({@link DEFAULT_GPU_BUDGET_BYTES} when it does not). A fraction of
 * it ({@link DEFAULT_RESERVE_FRACTION}) is held back for the driver, the
 * display and the pool's free buffers; the stages must fit in the rest.
 *
 * Stages, in the order the pipeline runs them (pipeline.ts):
 * 1. encode prompt: the text encoder's weights and its forward; freed
 *    afterwards unless `keepTextEncoder`;
 * 2. sampling: both DiTs as planned, the features, latents, velocities,
 *    rope tables and one pass's activations;
 * 3. decode: the DiTs still held (unless the plan frees them first) + the
 *    VAE's weights and its decode at the output size.
 *
 * Residency, first that fits the sampling stage: both DiTs resident; the
 * unconditional one streamed; both streamed. A streamed DiT keeps its
 * globals resident and uploads each block per step into one of two slots.
 *
 * The plan is for a fresh pipeline (nothing loaded yet, as the CLI runs).
 */
import { GpuContext, type GpuFeatures } from "../gpu/context.ts";
import { SHAPE_ONLY_BINDING_BYTES } from "../gpu/shape_only.ts";
import { Tensor } from "../gpu/tensor.ts";
import { Checkpoint } from "../io/checkpoint.ts";
import type { TensorStore } from "../io/tensor_store.ts";
import { DiT } from "../models/dit.ts";
import { type DiTDeclared, parseDiTConfig } from "../models/dit_config.ts";
import { parseQwen3Config, type Qwen3Config } from "../models/qwen3_config.ts";
import { Qwen3TextEncoder } from "../models/qwen3_encoder.ts";
import type { VaeDecoderConfig } from "../models/vae_config.ts";
import { loadVaeDecoder, VAE_WEIGHTS_STEM } from "../models/vae_decoder.ts";
import { vaeConfigFor } from "../models/vae_weights.ts";
import { countNonFinite, nonFiniteCounters } from "../ops/nonfinite.ts";
import { TOKEN_CHANNELS } from "../models/ops/unpatchify.ts";
import { platform as currentPlatform } from "../platform/mod.ts";
import type { Platform } from "../platform/types.ts";
import { ShapeOnlyStore } from "./checkpoint_check.ts";
import { decodeLatents, samplingStep } from "./stages.ts";

export const GIB = 2 ** 30;

/**
 * Default budget, 8 GiB. WebGPU exposes no memory size, and overcommitting
 * does not fail cleanly (drivers page to system memory at a crawl, or lose
 * the device), so the default must be one that most machines able to run the
 * model at all have: 8 GiB is the most common discrete-GPU size and what
 * Apple-silicon and integrated GPUs can usually borrow from 16 GiB of system
 * memory. Below it the released model still runs by streaming both DiTs;
 * larger cards say so with `--gpu-memory` and keep the DiTs resident.
 */
export const DEFAULT_GPU_BUDGET_BYTES = 8 * GIB;

/** Held back from the budget: driver, display, the pool's free buffers. */
export const DEFAULT_RESERVE_FRACTION = 0.1;

/**
 * Storage binding limit assumed when the device is unknown: 2 GiB, the top
 * of what desktop adapters report. A device with a lower limit cuts smaller
 * bands and parts, so this errs high.
 */
export const DEFAULT_PLAN_BINDING_BYTES = SHAPE_ONLY_BINDING_BYTES;

/** Pixels per latent token along each axis (2×2 patches of the 8× VAE latent). */
const PIXELS_PER_TOKEN = 16;

/** Sampling steps run to measure the sampling stage (every later step repeats the second). */
const MEASURED_STEPS = 2;

/** Where a DiT's block weights live: all on the GPU, or streamed per step. */
export type Residency = "resident" | "stream";

/** What {@link planMemory} plans for. */
export interface PlanRequest {
  /** Image width in pixels. */
  width: number;
  /** Image height in pixels. */
  height: number;
  /** Prompt tokens after the chat template (the plan for an unknown prompt uses the maximum). */
  textTokens: number;
  /** GPU memory to fit in, in bytes. */
  budgetBytes: number;
  /** Sampling steps, for the traffic per image (default 1: per step only). */
  steps?: number;
  /** The text encoder stays loaded through sampling and decoding (default false). */
  keepTextEncoder?: boolean;
  /**
   * The adapter's storage binding limit (`maxStorageBufferBindingSize`): the
   * VAE's bands and the weights' parts are cut to it and no single buffer
   * may exceed it (default: the adapter's from {@link PlanOptions.gpu}, else
   * {@link DEFAULT_PLAN_BINDING_BYTES}).
   */
  maxBindingBytes?: number;
  /** Fraction of the budget held back (default {@link DEFAULT_RESERVE_FRACTION}). */
  reserveFraction?: number;
  /**
   * Plan this residency instead of choosing one (the pipeline's
   * `residency` option); default: the first that fits, see the module comment.
   */
  residency?: { cond: Residency; uncond: Residency };
}

/** Where {@link planMemory} reads the model and what it knows of the device. */
export interface PlanOptions {
  /** Default: the registered platform. */
  platform?: Platform;
  /**
   * The device the request will run on (a real context: its limits,
   * features and adapter info); without one, a desktop adapter with 2 GiB
   * bindings.
   */
  gpu?: { limits: GPUSupportedLimits; features: GpuFeatures; adapterInfo?: GPUAdapterInfo };
}

/** GPU memory of one stage of a request at its peak. */
export interface StagePlan {
  /** The stage. */
  name: "encode prompt" | "sampling" | "decode";
  /** Weights on the GPU during the stage (of every component held). */
  weightBytes: number;
  /** Everything else at the stage's peak: activations, features, latents, rope tables. */
  activationBytes: number;
  /** Weights plus activations: the buffer pool's peak in the stage. */
  bytes: number;
}

/** One DiT as measured: its GPU bytes when resident, its blocks, its formats. */
export interface PlannedDiT {
  /** GPU bytes of every weight (resident). */
  gpuBytes: number;
  /** Transformer blocks. */
  blocks: number;
  /** Storage formats of the Linear weights (`nf4`, `bf16`, …). */
  formats: string[];
}

/** The components' weights as the plan measured them. */
export interface PlannedComponents {
  /** `text_encoder/`: GPU weights, the embedding table kept on the host, formats. */
  textEncoder: { gpuBytes: number; hostBytes: number; formats: string[] };
  /** `transformer/` (with text conditioning). */
  cond: PlannedDiT;
  /** `unconditional_transformer/` (image tokens only, no text projection). */
  uncond: PlannedDiT;
  /** `vae/`: GPU weights. */
  vae: { gpuBytes: number };
}

/** How one request uses GPU memory, stage by stage, and whether it fits. */
export interface MemoryPlan {
  /** The request, defaults filled in. */
  request: Required<PlanRequest>;
  /** Budget less the reserve: what the stages must fit in. */
  usableBytes: number;
  /** The components' weights. */
  components: PlannedComponents;
  /** Where each DiT's blocks live. */
  residency: { cond: Residency; uncond: Residency };
  /** Whether any DiT streams. */
  streaming: boolean;
  /** Bytes of one streaming slot per streamed DiT (its largest block); two slots each. */
  slotBytes: { cond: number; uncond: number };
  /** Host→GPU weight bytes per sampling step (0 when both DiTs are resident). */
  uploadBytesPerStep: number;
  /** The same over `steps` steps. */
  uploadBytesPerImage: number;
  /** Free the DiTs before decoding (they do not fit beside the VAE's peak). */
  freeTransformersBeforeDecode: boolean;
  /** Each stage at its peak, in execution order. */
  stages: StagePlan[];
  /** The largest stage's bytes: the buffer pool's peak over the request. */
  peakBytes: number;
  /** The largest single buffer, and which it is (it must fit one binding). */
  largestBuffer: { bytes: number; what: string };
  /** Peak ≤ usable and the largest buffer ≤ the binding limit. */
  fits: boolean;
  /** Why the request cannot run, in words for the user (undefined when it fits). */
  refusal?: string;
}

// ---- the checkpoint, opened shape-only

/** The four components' stores (headers only) and configs. */
interface ShapeOnlyModel {
  te: { store: TensorStore; config: Qwen3Config };
  cond: { store: TensorStore; declared: DiTDeclared };
  uncond: { store: TensorStore; declared: DiTDeclared };
  vae: { store: TensorStore; config: VaeDecoderConfig };
}

/** Opens `dir`'s components as the models' loaders would, shape-only; `fn` uses them. */
async function withShapeOnlyModel<T>(
  dir: string,
  p: Platform,
  fn: (m: ShapeOnlyModel) => Promise<T>,
): Promise<T> {
  const opened: TensorStore[] = [];
  const open = async (folder: string, stem: string) => {
    const store = new ShapeOnlyStore(
      await Checkpoint.open(p.join(dir, folder), { stem, platform: p }),
    );
    opened.push(store);
    return store;
  };
  const readConfig = async (folder: string) => {
    const path = p.join(dir, folder, "config.json");
    return { path, text: await p.exists(path) ? await p.readText(path) : undefined };
  };
  const dit = async (folder: string) => {
    const c = await readConfig(folder);
    const declared = c.text === undefined ? {} : parseDiTConfig(c.text, c.path);
    return { store: await open(folder, "diffusion_pytorch_model"), declared };
  };
  try {
    const teConfig = await readConfig("text_encoder");
    if (teConfig.text === undefined) throw new Error(`${teConfig.path}: not found`);
    const te = {
      config: parseQwen3Config(teConfig.text, teConfig.path),
      store: await open("text_encoder", "model"),
    };
    const cond = await dit("transformer");
    const uncond = await dit("unconditional_transformer");
    const vaeConfig = await readConfig("vae");
    const vaeStore = await open("vae", VAE_WEIGHTS_STEM);
    const vae = { store: vaeStore, config: vaeConfigFor(vaeStore, vaeConfig.text, vaeConfig.path) };
    return await fn({ te, cond, uncond, vae });
  } finally {
    for (const s of opened) s.close();
  }
}

// ---- one request, run shape-only

/** What one shape-only run of a request measured. */
interface Measured {
  /** Each component's weights: the bytes its load added to the pool. */
  components: PlannedComponents;
  /** The pool's peak in each stage (decode: with the DiTs still held). */
  peak: { encode: number; sampling: number; decode: number };
  /** What releasing both DiTs frees during decode (weights and rope tables). */
  ditsHeld: number;
  largest: { bytes: number; label: string };
  slotBytes: { cond: number; uncond: number };
  uploadBytesPerStep: number;
}

/** Runs `r` on a fresh shape-only context the way `Ideogram4Pipeline.generate` does. */
async function measure(
  m: ShapeOnlyModel,
  r: Required<PlanRequest>,
  residency: { cond: Residency; uncond: Residency },
  gpu: PlanOptions["gpu"],
): Promise<Measured> {
  const ctx = GpuContext.shapeOnly({
    limits: gpu?.limits,
    features: gpu?.features,
    adapterInfo: gpu?.adapterInfo,
    overrides: { maxStorageBufferBindingSize: r.maxBindingBytes },
  });
  const pool = ctx.pool, live = () => pool.stats.liveBytes;
  let largest = { bytes: 0, label: "" };
  /** Ends a stage: its peak; the next stage's peak starts from what is live now. */
  const endStage = () => {
    const peak = pool.stats.peakBytes;
    if (pool.largest.bytes > largest.bytes) largest = pool.largest;
    pool.resetPeak();
    return peak;
  };
  const loading = async <T>(load: () => Promise<T>): Promise<[T, number]> => {
    const before = live();
    const model = await load();
    return [model, live() - before];
  };
  const gh = r.height / PIXELS_PER_TOKEN, gw = r.width / PIXELS_PER_TOKEN, tokens = gh * gw;

  // 1. encode prompt (Ideogram4Pipeline.encodeIds).
  const [te, teBytes] = await loading(() =>
    Qwen3TextEncoder.load(ctx, m.te.store, { config: m.te.config })
  );
  const textEncoder = {
    gpuBytes: teBytes,
    hostBytes: te.hostBytes,
    formats: [...te.weightFormats],
  };
  const features = te.encodeFeatures(new Int32Array(r.textTokens));
  if (!r.keepTextEncoder) te.release();
  const encode = endStage();

  // 2. sampling (Ideogram4Pipeline.generate).
  const counters = nonFiniteCounters(ctx, r.steps + 2);
  countNonFinite(ctx, features, counters, 0);
  const [cond, condBytes] = await loading(() =>
    DiT.load(ctx, m.cond.store, {
      config: m.cond.declared,
      name: "cond",
      residency: residency.cond,
    })
  );
  const [uncond, uncondBytes] = await loading(() =>
    DiT.load(ctx, m.uncond.store, {
      config: m.uncond.declared,
      textConditioning: false,
      name: "uncond",
      residency: residency.uncond,
    })
  );
  const z = Tensor.fromF32(
    ctx,
    new Float32Array(tokens * TOKEN_CHANNELS),
    [tokens, TOKEN_CHANNELS],
    "f32",
    "latents",
  );
  const step = { t: 1, s: 0, guidance: 1 };
  for (let n = 0; n < Math.min(r.steps, MEASURED_STEPS); n++) {
    samplingStep(ctx, { cond, uncond }, z, features, { gh, gw }, step, counters, n + 1);
  }
  const sampling = endStage();

  // 3. decode, the DiTs still held; what freeing them first saves is measured after.
  const [vae, vaeBytes] = await loading(() =>
    loadVaeDecoder(ctx, m.vae.store, { config: m.vae.config })
  );
  decodeLatents(ctx, vae, z, { gh, gw }, counters, r.steps + 1).release();
  const decode = endStage();
  const dit = (d: DiT, bytes: number): PlannedDiT => ({
    gpuBytes: bytes,
    blocks: d.config.numLayers,
    formats: [...d.weightFormats],
  });
  const measured: Measured = {
    components: {
      textEncoder,
      cond: dit(cond, condBytes),
      uncond: dit(uncond, uncondBytes),
      vae: { gpuBytes: vaeBytes },
    },
    peak: { encode, sampling, decode },
    ditsHeld: 0,
    largest,
    slotBytes: { cond: cond.streamSlotBytes, uncond: uncond.streamSlotBytes },
    uploadBytesPerStep: cond.streamBytesPerForward + uncond.streamBytesPerForward,
  };
  const held = live();
  cond.release();
  uncond.release();
  measured.ditsHeld = held - live();
  for (const x of [vae, te, features, counters]) x.release();
  ctx.destroy();
  return measured;
}

// ---- the plan

const RESIDENCY_ORDER: readonly { cond: Residency; uncond: Residency }[] = [
  { cond: "resident", uncond: "resident" },
  { cond: "resident", uncond: "stream" },
  { cond: "stream", uncond: "stream" },
];

/**
 * Plans one generation of the checkpoint in `dir` (published layout) for
 * `req` by running it shape-only (see the module comment). Reads headers,
 * configs and nf4 quant states only; needs no GPU. A checkpoint that does
 * not load is an error (run `checkCheckpoint` first for a list of problems).
 */
export async function planMemory(
  dir: string,
  req: PlanRequest,
  opts: PlanOptions = {},
): Promise<MemoryPlan> {
  // Field by field: an explicit `undefined` takes the default too.
  const r: Required<PlanRequest> = {
    ...req,
    steps: req.steps ?? 1,
    keepTextEncoder: req.keepTextEncoder ?? false,
    maxBindingBytes: req.maxBindingBytes ?? opts.gpu?.limits.maxStorageBufferBindingSize ??
      DEFAULT_PLAN_BINDING_BYTES,
    reserveFraction: req.reserveFraction ?? DEFAULT_RESERVE_FRACTION,
    residency: req.residency ?? RESIDENCY_ORDER[0],
  };
  if (!(r.budgetBytes > 0)) throw new Error(`GPU memory budget ${r.budgetBytes} is not positive`);
  if (!(r.reserveFraction >= 0 && r.reserveFraction < 1)) {
    throw new Error(`reserve fraction ${r.reserveFraction} is outside [0, 1)`);
  }
  if (!Number.isSafeInteger(r.textTokens) || r.textTokens < 1) {
    throw new Error(`text tokens ${r.textTokens} is not a positive integer`);
  }
  if (!Number.isSafeInteger(r.steps) || r.steps < 1) {
    throw new Error(`steps ${r.steps} is not a positive integer`);
  }
  const gh = r.height / PIXELS_PER_TOKEN, gw = r.width / PIXELS_PER_TOKEN;
  if (!Number.isInteger(gh) || !Number.isInteger(gw) || gh < 1 || gw < 1) {
    throw new Error(`${r.width}x${r.height} is not a positive multiple of ${PIXELS_PER_TOKEN}`);
  }
  const usableBytes = Math.floor(r.budgetBytes * (1 - r.reserveFraction));
  const p = opts.platform ?? currentPlatform();

  // The first residency whose sampling stage fits (the last when none does), or the one given.
  const runs = await withShapeOnlyModel(dir, p, async (model) => {
    const run = async (residency: { cond: Residency; uncond: Residency }) => ({
      residency,
      m: await measure(model, r, residency, opts.gpu),
    });
    // The first run, both resident, also gives every weight's size.
    const [first, ...rest] = RESIDENCY_ORDER;
    const done = [await run(first)];
    const given = req.residency;
    if (given) {
      if (given.cond !== first.cond || given.uncond !== first.uncond) done.push(await run(given));
      return done;
    }
    for (const residency of rest) {
      if (done[done.length - 1].m.peak.sampling <= usableBytes) break;
      done.push(await run(residency));
    }
    return done;
  });
  const { residency, m } = runs[runs.length - 1];
  r.residency = residency;
  const components = runs[0].m.components; // both resident: every weight's bytes
  const loaded = m.components; // what the chosen residency holds (streamed: globals + slots)
  const te = r.keepTextEncoder ? loaded.textEncoder.gpuBytes : 0;
  const dits = loaded.cond.gpuBytes + loaded.uncond.gpuBytes, vae = loaded.vae.gpuBytes;
  const freeTransformersBeforeDecode = m.peak.decode > usableBytes &&
    m.peak.decode - m.ditsHeld <= usableBytes;
  const stage = (name: StagePlan["name"], weightBytes: number, bytes: number): StagePlan => ({
    name,
    weightBytes,
    activationBytes: bytes - weightBytes,
    bytes,
  });
  const stages: StagePlan[] = [
    stage("encode prompt", loaded.textEncoder.gpuBytes, m.peak.encode),
    stage("sampling", te + dits, m.peak.sampling),
    freeTransformersBeforeDecode
      ? stage("decode", te + vae, m.peak.decode - m.ditsHeld)
      : stage("decode", te + dits + vae, m.peak.decode),
  ];
  const peakBytes = Math.max(...stages.map((s) => s.bytes));
  const largestBuffer = { bytes: m.largest.bytes, what: `'${m.largest.label}'` };
  const size = `${r.width}x${r.height}`;
  const refusal = largestBuffer.bytes > r.maxBindingBytes
    ? `${size} with ${r.textTokens} prompt tokens needs one buffer ${largestBuffer.what} of ` +
      `${formatBytes(largestBuffer.bytes)}, above the adapter's largest storage buffer ` +
      `(${formatBytes(r.maxBindingBytes)}); pick a smaller size or a shorter prompt`
    : peakBytes > usableBytes
    ? `${size} with ${r.textTokens} prompt tokens needs about ${formatBytes(peakBytes)} of GPU ` +
      `memory even with streaming; the budget leaves ${formatBytes(usableBytes)} (raise the ` +
      `budget, e.g. --gpu-memory, or pick a smaller size)`
    : undefined;
  return {
    request: r,
    usableBytes,
    components,
    residency,
    streaming: residency.cond === "stream" || residency.uncond === "stream",
    slotBytes: m.slotBytes,
    uploadBytesPerStep: m.uploadBytesPerStep,
    uploadBytesPerImage: m.uploadBytesPerStep * r.steps,
    freeTransformersBeforeDecode,
    stages,
    peakBytes,
    largestBuffer,
    fits: refusal === undefined,
    refusal,
  };
}

// ---- text

/** `1.23 GiB`, `45.6 MiB`, `7.8 KiB`, `12 B`. */
export function formatBytes(n: number): string {
  if (n >= GIB) return `${(n / GIB).toFixed(2)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

/** What the plan says, one line per fact, for `--dry-run` and `--verbose`. */
export function formatPlan(p: MemoryPlan): string[] {
  const r = p.request, b = formatBytes, c = p.components;
  const formats = (f: string[]) => f.length > 0 ? f.join(", ") : "no Linears";
  const lines = [
    `memory plan for ${r.width}x${r.height}, ${r.textTokens} text tokens, ` +
    `budget ${b(r.budgetBytes)} (${b(p.usableBytes)} usable after a ` +
    `${Math.round(r.reserveFraction * 100)}% reserve)`,
    `  text encoder               ${b(c.textEncoder.gpuBytes)} on the GPU ` +
    `(${formats(c.textEncoder.formats)}); embedding ${b(c.textEncoder.hostBytes)} on the host`,
    `  transformer                ${b(c.cond.gpuBytes)} (${formats(c.cond.formats)}; ` +
    `${c.cond.blocks} blocks)`,
    `  unconditional_transformer  ${b(c.uncond.gpuBytes)} (${formats(c.uncond.formats)}; ` +
    `text projection not loaded)`,
    `  vae                        ${b(c.vae.gpuBytes)}`,
  ];
  for (const s of p.stages) {
    lines.push(
      `  stage ${s.name.padEnd(14)} ${b(s.bytes)} = ${b(s.weightBytes)} weights + ` +
        `${b(s.activationBytes)} activations`,
    );
  }
  const res = (x: Residency) => x === "resident" ? "resident" : "streamed";
  const slots = [p.slotBytes.cond, p.slotBytes.uncond].filter((n) => n > 0);
  lines.push(
    `  transformers: transformer ${res(p.residency.cond)}, unconditional_transformer ` +
      `${res(p.residency.uncond)}` +
      (p.streaming
        ? ` (streamed blocks go through two slots of ${slots.map(b).join(" / ")} each)`
        : ""),
    p.streaming
      ? `  streaming: yes; host→GPU weight traffic ${b(p.uploadBytesPerStep)} per step` +
        (r.steps > 1 ? `, ${b(p.uploadBytesPerImage)} for ${r.steps} steps` : "")
      : "  streaming: no; no weight traffic while sampling",
  );
  if (p.freeTransformersBeforeDecode) {
    lines.push("  the transformers are freed before decoding (they do not fit beside the VAE)");
  }
  lines.push(
    `  largest buffer ${b(p.largestBuffer.bytes)} (${p.largestBuffer.what}) of ` +
      `${b(r.maxBindingBytes)} per binding`,
    `  peak GPU memory ${b(p.peakBytes)} of ${b(p.usableBytes)} usable: ` +
      (p.fits ? "fits" : "does NOT fit"),
  );
  return lines;
}
