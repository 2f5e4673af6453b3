/**
 * Plans GPU memory for one generation: which transformers stay resident and
 * which stream their blocks, the peak of each stage, and the host→GPU weight
 * traffic streaming costs. Pure arithmetic over a {@link ModelFootprint}
 * (weights, `memory_footprint.ts`) and the request (size, text tokens).
 *
 * WebGPU cannot report how much memory a device has, so the caller states a
 * budget ({@link DEFAULT_GPU_BUDGET_BYTES} when it does not). A fraction of
 * it ({@link DEFAULT_RESERVE_FRACTION}) is held back for the driver, the
 * display and the buffer pool's size classes (activation buffers round up by
 * at most 12.5%); the stages must fit in the rest.
 *
 * Stages, in the order the pipeline runs them (pipeline.ts):
 * 1. encode prompt: the text encoder's layers + its activations at L tokens
 *    (the features `[L, 13·hidden]` f32 included); freed afterwards unless
 *    `keepTextEncoder`;
 * 2. sampling: both DiTs as planned + the features, latents, velocities and
 *    rope tables + the conditional pass's activations at L + image tokens;
 * 3. decode: the DiTs still held (unless the plan frees them first) + the
 *    VAE's weights and activations at the output size, with its row bands.
 *
 * Residency, first that fits the sampling stage: both DiTs resident; the
 * unconditional one streamed; both streamed. A streamed DiT keeps its
 * globals resident and uploads each block per step into one of two slots
 * (double buffering: block i+1 uploads while block i runs), so each step
 * moves all its block bytes host→GPU.
 *
 * Activation peaks follow the models' release order (which tensors are live
 * together) in the activation dtype; see each function.
 */
import { QWEN3_TAP_LAYERS } from "../models/qwen3_config.ts";
import { planBands } from "../models/vae_bands.ts";
import { type VaeDecoderConfig, vaeScaleFactor, vaeUpBlocks } from "../models/vae_config.ts";
import {
  type DiTFootprint,
  ditGpuBytes,
  type DiTShape,
  type ModelFootprint,
  type StoredFormat,
  type TextEncoderShape,
} from "./memory_footprint.ts";

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

/** Held back from the budget: driver, display, pool size classes (≤ 12.5% on activations). */
export const DEFAULT_RESERVE_FRACTION = 0.1;

/**
 * Storage binding limit assumed for the VAE's row bands when the device is
 * unknown: 2 GiB, the top of what desktop adapters report. A device with a
 * lower limit cuts smaller bands and needs less, so this errs high.
 */
export const DEFAULT_PLAN_BINDING_BYTES = 2 * GIB;

/** Pixels per latent token along each axis (2×2 patches of the 8× VAE latent). */
const PIXELS_PER_TOKEN = 16;

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
  /** Bytes per activation value: 4 (f32, the default) or 2 (f16). */
  activationBytes?: 2 | 4;
  /**
   * The adapter's storage binding limit (`maxStorageBufferBindingSize`): the
   * VAE's bands are cut to it and no single buffer may exceed it (default
   * {@link DEFAULT_PLAN_BINDING_BYTES}).
   */
  maxBindingBytes?: number;
  /** Fraction of the budget held back (default {@link DEFAULT_RESERVE_FRACTION}). */
  reserveFraction?: number;
}

/** GPU memory of one stage of a request at its peak. */
export interface StagePlan {
  /** The stage. */
  name: "encode prompt" | "sampling" | "decode";
  /** Weights on the GPU during the stage (of every component held). */
  weightBytes: number;
  /** Activations at the stage's peak. */
  activationBytes: number;
  /** Weights plus activations. */
  bytes: number;
}

/** How one request uses GPU memory, stage by stage, and whether it fits. */
export interface MemoryPlan {
  /** The request, defaults filled in. */
  request: Required<PlanRequest>;
  /** Budget less the reserve: what the stages must fit in. */
  usableBytes: number;
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
  /** The largest stage's bytes. */
  peakBytes: number;
  /** The largest single activation buffer, and which it is (it must fit one binding). */
  largestBuffer: { bytes: number; what: string };
  /** Peak ≤ usable and the largest buffer ≤ the binding limit. */
  fits: boolean;
  /** Why the request cannot run, in words for the user (undefined when it fits). */
  refusal?: string;
}

// ---- activations

/**
 * The text encoder's activation peak at `L` tokens: the features `[L, taps·hidden]`
 * f32 and the rope tables, plus the larger of the attention phase (residual,
 * q, k, v and their normed-and-rotated copies; or the residual, its norm and
 * q, k, v) and the MLP phase (residual, gate, up and their SiLU product).
 */
export function textEncoderActivationBytes(s: TextEncoderShape, L: number, act = 4): number {
  const h = s.hiddenSize, qd = s.numHeads * s.headDim, kvd = s.numKvHeads * s.headDim;
  const I = s.intermediateSize;
  const features = 4 * L * QWEN3_TAP_LAYERS.length * h;
  const rope = 2 * 4 * L * (s.headDim / 2);
  const attention = Math.max(h + 2 * qd + 3 * kvd, 2 * h + qd + 2 * kvd);
  const mlp = Math.max(2 * h + 2 * I, h + 3 * I);
  return features + rope + act * L * Math.max(attention, mlp);
}

/**
 * One DiT pass's activation peak over `ltxt` text + `limg` image tokens: the
 * larger of the entry (normed features, text projection, the sequence and the
 * image projection) and a block (attention phase: h, q, k, v and the two
 * normed-and-rotated copies, 6·emb a token; FFN phase: h, w1·x, w3·x and
 * their SwiGLU product, emb + 3·ffn a token).
 */
export function ditActivationBytes(s: DiTShape, ltxt: number, limg: number, act = 4): number {
  const L = ltxt + limg, e = s.embDim, f = s.intermediateSize;
  const entry = ltxt > 0 ? ltxt * (s.llmFeaturesDim + e) + L * e + limg * e : limg * e;
  const block = L * Math.max(6 * e, e + 3 * f);
  return act * Math.max(entry, block);
}

/**
 * The largest single activation buffer of a generation, which must fit in
 * one storage binding (nothing here is split into parts): the DiTs' FFN and
 * q / k / v activations over all tokens, and the VAE mid block's attention
 * inputs over every latent pixel (one head; the VAE's other maps are cut
 * into row bands that fit). The text encoder's are bounded by the prompt
 * limit, not the image size.
 */
export function largestActivation(
  m: ModelFootprint,
  ltxt: number,
  limg: number,
  latentPixels: number,
  act = 4,
): { bytes: number; what: string } {
  const L = ltxt + limg, c = m.cond.shape, u = m.uncond.shape;
  const mid = m.vae.config.blockOutChannels[m.vae.config.blockOutChannels.length - 1];
  const candidates = [
    {
      bytes: act * L * c.intermediateSize,
      what: `transformer FFN activation [${L}, ${c.intermediateSize}]`,
    },
    { bytes: act * L * c.embDim, what: `transformer activation [${L}, ${c.embDim}]` },
    {
      bytes: act * limg * u.intermediateSize,
      what: `unconditional FFN activation [${limg}, ${u.intermediateSize}]`,
    },
    {
      bytes: act * latentPixels * mid,
      what: `VAE mid-block attention input [${latentPixels}, ${mid}]`,
    },
  ];
  return candidates.reduce((a, b) => b.bytes > a.bytes ? b : a);
}

/** Bytes of the two rope tables (cos, sin `[L, headDim/2]` f32) of one sequence layout. */
function ropeBytes(L: number, headDim: number): number {
  return 2 * 4 * L * (headDim / 2);
}

/**
 * What the sampling loop holds besides weights, at its peak: the features
 * (f32), latents and both velocities `[limg, inChannels]` f32, each DiT's
 * cached rope tables, and the conditional pass's activations (the larger
 * pass: same blocks over more tokens).
 */
export function samplingActivationBytes(
  cond: DiTShape,
  uncond: DiTShape,
  ltxt: number,
  limg: number,
  act = 4,
): number {
  const held = 4 * ltxt * cond.llmFeaturesDim + 3 * 4 * limg * cond.inChannels +
    ropeBytes(ltxt + limg, cond.headDim) + ropeBytes(limg, uncond.headDim);
  return held + Math.max(
    ditActivationBytes(cond, ltxt, limg, act),
    ditActivationBytes(uncond, 0, limg, act),
  );
}

/**
 * The VAE decoder's activation peak for a `height × width` image: the latent
 * (f32, held by the pipeline) plus the largest live set of any step, walked
 * block by block with the row bands the decoder cuts at `maxBindingBytes`:
 *
 * - resnet: (a) input + first conv's output + the GroupNorm'd input band
 *   (the whole map when one band); (b) with a shortcut, its output too
 *   (banded: the input's bands go as the output's come); (c) first conv's
 *   output + skip + result + the normed band;
 * - mid attention (one head over all pixels): input + q, k, v + output;
 * - upsample conv: input + the ×2 output; conv_out: input + normed band + image.
 */
export function vaeActivationBytes(
  c: VaeDecoderConfig,
  width: number,
  height: number,
  act = 4,
  maxBindingBytes = DEFAULT_PLAN_BINDING_BYTES,
): number {
  const sf = vaeScaleFactor(c);
  const h0 = height / sf, w0 = width / sf;
  if (!Number.isInteger(h0) || !Number.isInteger(w0)) {
    throw new Error(`VAE: ${width}x${height} is not a multiple of ${sf}`);
  }
  const blocks = vaeUpBlocks(c);
  const widths = blocks.map((b) => b.resnets[b.resnets.length - 1].cout);
  const mid = c.blockOutChannels[c.blockOutChannels.length - 1];
  // Per level k: the bands the decoder plans (VaeDecoder.bandPlan's channel rule).
  const levels = widths.map((cout, k) => {
    const h = h0 << k, w = w0 << k;
    const channels = k === 0
      ? Math.max(c.latentChannels, mid, cout)
      : Math.max(widths[k - 1], cout);
    const bands = planBands(h, w * channels * act, maxBindingBytes);
    const maxRows = Math.max(...bands.map(([a, b]) => b - a));
    return { h, w, whole: bands.length === 1, maxRows };
  });
  const map = (k: number, ch: number) => act * levels[k].h * levels[k].w * ch;
  /** A gathered, normed input band of `ch` channels (rows + 2 halo rows). */
  const normed = (k: number, ch: number) =>
    levels[k].whole ? map(k, ch) : act * (levels[k].maxRows + 2) * levels[k].w * ch;
  const band = (k: number, ch: number) =>
    levels[k].whole ? map(k, ch) : act * levels[k].maxRows * levels[k].w * ch;
  const resnet = (k: number, cin: number, cout: number) => {
    const a = map(k, cin) + map(k, cout) + normed(k, cin);
    const b = cin === cout
      ? 0
      : levels[k].whole
      ? map(k, cin) + 2 * map(k, cout)
      : map(k, cout) + Math.max(map(k, cin), map(k, cout)) + band(k, Math.max(cin, cout));
    const cc = levels[k].whole
      ? 4 * map(k, cout)
      : 2 * map(k, cout) + normed(k, cout) + band(k, cout);
    return Math.max(a, b, cc);
  };
  let peak = map(0, c.latentChannels) + map(0, mid); // conv_in
  peak = Math.max(peak, resnet(0, mid, mid));
  if (c.midBlockAttention) peak = Math.max(peak, 5 * map(0, mid));
  blocks.forEach((b, k) => {
    for (const r of b.resnets) peak = Math.max(peak, resnet(k, r.cin, r.cout));
    if (b.upsample) peak = Math.max(peak, map(k, widths[k]) + map(k + 1, widths[k]));
  });
  const top = levels.length - 1, ch = c.blockOutChannels[0];
  peak = Math.max(peak, map(top, ch) + normed(top, ch) + map(top, c.outChannels));
  const latent = 4 * h0 * w0 * c.latentChannels;
  return latent + peak;
}

// ---- the plan

/** GPU bytes a DiT holds under `r`: all of it, or its globals and two block slots. */
export function ditHeldBytes(d: DiTFootprint, r: Residency): number {
  return r === "resident" ? ditGpuBytes(d) : d.globalBytes + 2 * Math.max(0, ...d.blockBytes);
}

const RESIDENCY_ORDER: readonly { cond: Residency; uncond: Residency }[] = [
  { cond: "resident", uncond: "resident" },
  { cond: "resident", uncond: "stream" },
  { cond: "stream", uncond: "stream" },
];

/** Plans one generation of `m` for `req` (see the module comment). */
export function planMemory(m: ModelFootprint, req: PlanRequest): MemoryPlan {
  // Field by field: an explicit `undefined` takes the default too.
  const r: Required<PlanRequest> = {
    ...req,
    steps: req.steps ?? 1,
    keepTextEncoder: req.keepTextEncoder ?? false,
    activationBytes: req.activationBytes ?? 4,
    maxBindingBytes: req.maxBindingBytes ?? DEFAULT_PLAN_BINDING_BYTES,
    reserveFraction: req.reserveFraction ?? DEFAULT_RESERVE_FRACTION,
  };
  if (!(r.budgetBytes > 0)) throw new Error(`GPU memory budget ${r.budgetBytes} is not positive`);
  if (!(r.reserveFraction >= 0 && r.reserveFraction < 1)) {
    throw new Error(`reserve fraction ${r.reserveFraction} is outside [0, 1)`);
  }
  if (!Number.isSafeInteger(r.textTokens) || r.textTokens < 1) {
    throw new Error(`text tokens ${r.textTokens} is not a positive integer`);
  }
  const gh = r.height / PIXELS_PER_TOKEN, gw = r.width / PIXELS_PER_TOKEN;
  if (!Number.isInteger(gh) || !Number.isInteger(gw) || gh < 1 || gw < 1) {
    throw new Error(`${r.width}x${r.height} is not a positive multiple of ${PIXELS_PER_TOKEN}`);
  }
  const usableBytes = Math.floor(r.budgetBytes * (1 - r.reserveFraction));
  const act = r.activationBytes, limg = gh * gw, ltxt = r.textTokens;
  const te = r.keepTextEncoder ? m.textEncoder.gpuBytes : 0;

  const encodeAct = textEncoderActivationBytes(m.textEncoder.shape, ltxt, act);
  const samplingAct = samplingActivationBytes(m.cond.shape, m.uncond.shape, ltxt, limg, act);
  const vaeAct = vaeActivationBytes(m.vae.config, r.width, r.height, act, r.maxBindingBytes);
  const held = (res: { cond: Residency; uncond: Residency }) =>
    ditHeldBytes(m.cond, res.cond) + ditHeldBytes(m.uncond, res.uncond);

  const residency = RESIDENCY_ORDER.find((res) => te + held(res) + samplingAct <= usableBytes) ??
    RESIDENCY_ORDER[RESIDENCY_ORDER.length - 1];
  const dits = held(residency);
  const decodeWith = te + dits + m.vae.gpuBytes + vaeAct;
  const freeTransformersBeforeDecode = decodeWith > usableBytes &&
    te + m.vae.gpuBytes + vaeAct <= usableBytes;
  const stage = (name: StagePlan["name"], weightBytes: number, activationBytes: number) => ({
    name,
    weightBytes,
    activationBytes,
    bytes: weightBytes + activationBytes,
  });
  const stages: StagePlan[] = [
    stage("encode prompt", m.textEncoder.gpuBytes, encodeAct),
    stage("sampling", te + dits, samplingAct),
    stage("decode", te + (freeTransformersBeforeDecode ? 0 : dits) + m.vae.gpuBytes, vaeAct),
  ];
  const peakBytes = Math.max(...stages.map((s) => s.bytes));
  const sf = vaeScaleFactor(m.vae.config);
  const largestBuffer = largestActivation(
    m,
    ltxt,
    limg,
    (r.width / sf) * (r.height / sf),
    act,
  );
  const size = `${r.width}x${r.height}`;
  const refusal = largestBuffer.bytes > r.maxBindingBytes
    ? `${size} needs one ${largestBuffer.what} buffer of ${formatBytes(largestBuffer.bytes)}, ` +
      `above the adapter's largest storage buffer (${formatBytes(r.maxBindingBytes)}); ` +
      `pick a smaller size`
    : peakBytes > usableBytes
    ? `${size} with ${ltxt} prompt tokens needs about ${formatBytes(peakBytes)} of GPU memory ` +
      `even with streaming; the budget leaves ${formatBytes(usableBytes)} (raise the budget, ` +
      `e.g. --gpu-memory, or pick a smaller size)`
    : undefined;
  const streamed = (d: DiTFootprint, res: Residency) =>
    res === "stream" ? d.blockBytes.reduce((a, b) => a + b, 0) : 0;
  const uploadBytesPerStep = streamed(m.cond, residency.cond) +
    streamed(m.uncond, residency.uncond);
  const slot = (d: DiTFootprint, res: Residency) =>
    res === "stream" ? Math.max(0, ...d.blockBytes) : 0;
  return {
    request: r,
    usableBytes,
    residency,
    streaming: residency.cond === "stream" || residency.uncond === "stream",
    slotBytes: { cond: slot(m.cond, residency.cond), uncond: slot(m.uncond, residency.uncond) },
    uploadBytesPerStep,
    uploadBytesPerImage: uploadBytesPerStep * r.steps,
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

function formatsText(f: Partial<Record<StoredFormat, number>>): string {
  const parts = Object.entries(f).map(([k, n]) => `${k} ×${n}`);
  return parts.length > 0 ? parts.join(", ") : "no Linears";
}

/** What the plan says, one line per fact, for `--dry-run` and `--verbose`. */
export function formatPlan(m: ModelFootprint, p: MemoryPlan): string[] {
  const r = p.request, b = formatBytes;
  const dit = (d: DiTFootprint) => ditGpuBytes(d);
  const lines = [
    `memory plan for ${r.width}x${r.height}, ${r.textTokens} text tokens, ` +
    `budget ${b(r.budgetBytes)} (${b(p.usableBytes)} usable after a ` +
    `${Math.round(r.reserveFraction * 100)}% reserve)`,
    `  text encoder               ${b(m.textEncoder.gpuBytes)} on the GPU ` +
    `(${formatsText(m.textEncoder.formats)}); embedding ${b(m.textEncoder.hostBytes)} on the host`,
    `  transformer                ${b(dit(m.cond))} (${formatsText(m.cond.formats)}; ` +
    `${m.cond.blockBytes.length} blocks of ${b(Math.max(0, ...m.cond.blockBytes))})`,
    `  unconditional_transformer  ${b(dit(m.uncond))} (${formatsText(m.uncond.formats)}; ` +
    `text projection not loaded)`,
    `  vae                        ${b(m.vae.gpuBytes)} (${m.vae.actBytes === 4 ? "f32" : "f16"})`,
  ];
  for (const s of p.stages) {
    lines.push(
      `  stage ${s.name.padEnd(14)} ${b(s.bytes)} = ${b(s.weightBytes)} weights + ` +
        `${b(s.activationBytes)} activations`,
    );
  }
  const res = (x: Residency) => x === "resident" ? "resident" : "streamed";
  lines.push(
    `  transformers: transformer ${res(p.residency.cond)}, unconditional_transformer ` +
      `${res(p.residency.uncond)}` +
      (p.streaming ? " (streamed blocks go through two slots each)" : ""),
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
