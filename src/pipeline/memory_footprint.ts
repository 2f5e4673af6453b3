/**
 * GPU bytes of each component's weights as this runtime uploads them — the
 * weight half of memory planning (`memory_plan.ts` adds the activations).
 *
 * The rules follow the uploads exactly (`uploadLinear`, the models' `upload*`
 * helpers, the buffer pool's exact weight buffers rounded up to 4 bytes):
 *
 * - a Linear stays in its stored format: dense f32/f16/bf16 at 4/2/2 bytes a
 *   value; nf4 packs two values a byte plus an f32 table `[16 code book +
 *   one absmax per block]` (double-quantized absmax is expanded to f32 on
 *   upload); fp8 one byte a value plus an f32 scale per row; biases f32;
 * - the DiT uploads `qkv` as three row bands and `adaln_modulation` as four
 *   (each band with its own nf4 table); the text indicator rows are folded
 *   into biases, so `embed_image_indicator` costs nothing on the GPU;
 * - the text encoder's embedding table stays on the host (only the prompt's
 *   rows are uploaded); only layers 0 … last tap are uploaded;
 * - VAE conv weights are uploaded in the activation dtype (f32 by default).
 *
 * Not counted: a weight larger than the device's binding limit is split into
 * parts with a copy of the 64-byte nf4 code book each (a few bytes a weight).
 *
 * The inputs are structural: the host weights the loaders return (`HostLinear`,
 * `DiTLayerHost`, …) fit them, and so do layouts built from a config alone
 * ({@link uniformDiTLayout} and friends), so a checkpoint's real mix of
 * formats and a hand-written test case go through the same arithmetic.
 */
import { QWEN3_TAP_LAYERS } from "../models/qwen3_config.ts";
import { type VaeDecoderConfig, vaeMidChannels, vaeUpBlocks } from "../models/vae_config.ts";

/** What the byte count of one Linear depends on (a `HostLinear` is one). */
export type LinearLayout =
  | { format: "dense"; dtype: "f32" | "f16" | "bf16"; out: number; in: number }
  | { format: "nf4"; out: number; in: number; blocksize: number }
  | { format: "fp8"; out: number; in: number };

/** A Linear with a bias (`HostAffine` is one). */
export interface AffineLayout {
  w: LinearLayout;
  bias: { length: number };
}

/** Storage format names used in reports: `bf16`, `nf4`, … */
export type StoredFormat = "f32" | "f16" | "bf16" | "nf4" | "fp8";

export function storedFormat(w: LinearLayout): StoredFormat {
  return w.format === "dense" ? w.dtype : w.format;
}

/** Bytes of one exact (weight) buffer: the pool rounds to 4 (minimum 4). */
export function bufferBytes(n: number): number {
  return Math.max(4, Math.ceil(n / 4) * 4);
}

/** nf4 block size of the released checkpoints. */
export const NF4_BLOCKSIZE = 64;

/**
 * GPU bytes of a Linear weight uploaded as `bands` equal bands of output rows
 * (the DiT's qkv: 3, AdaLN: 4), bias excluded.
 */
export function linearGpuBytes(w: LinearLayout, bands = 1): number {
  if (!Number.isInteger(bands) || bands < 1 || w.out % bands !== 0) {
    throw new Error(`linearGpuBytes: ${w.out} rows do not split into ${bands} bands`);
  }
  const rows = w.out / bands, n = rows * w.in;
  let one: number;
  switch (w.format) {
    case "dense":
      one = bufferBytes(n * (w.dtype === "f32" ? 4 : 2));
      break;
    case "fp8":
      one = bufferBytes(n) + bufferBytes(4 * rows);
      break;
    case "nf4":
      one = bufferBytes(Math.ceil(n / 2)) + bufferBytes(4 * (16 + Math.ceil(n / w.blocksize)));
      break;
  }
  return bands * one;
}

/** GPU bytes of a Linear with its f32 bias (bias split like the rows). */
export function affineGpuBytes(a: AffineLayout, bands = 1): number {
  return linearGpuBytes(a.w, bands) + bands * bufferBytes((4 * a.bias.length) / bands);
}

/** An f32 vector (norm weight) of `n` values. */
export function vectorGpuBytes(n: number): number {
  return bufferBytes(4 * n);
}

// ---- DiT

/** The sizes of a DiT the activations depend on (`DiTConfig` is one). */
export interface DiTShape {
  /** Model width. */
  embDim: number;
  /** Transformer blocks. */
  numLayers: number;
  /** Attention heads. */
  numHeads: number;
  /** Width of one head. */
  headDim: number;
  /** Hidden width of the feed-forward. */
  intermediateSize: number;
  /** Width of the AdaLN conditioning vector. */
  adanlnDim: number;
  /** Latent channels per token. */
  inChannels: number;
  /** Text feature width. */
  llmFeaturesDim: number;
}

/** One block's weights (`DiTLayerHost` is one). */
export interface DiTBlockLayout {
  qkv: LinearLayout;
  o: LinearLayout;
  w1: LinearLayout;
  w2: LinearLayout;
  w3: LinearLayout;
  mod: AffineLayout;
}

/** Everything outside the blocks (`DiTHostGlobals` is one); `llm*` absent without text. */
export interface DiTGlobalsLayout {
  inputProj: AffineLayout;
  llmProj?: AffineLayout;
  tIn: AffineLayout;
  tOut: AffineLayout;
  adaln: AffineLayout;
  finalLinear: AffineLayout;
  finalMod: AffineLayout;
}

/** GPU bytes of one DiT: what always stays resident, and each block. */
export interface DiTFootprint {
  /** The sizes the activations depend on. */
  shape: DiTShape;
  /** Whether `llm_cond_norm` / `llm_cond_proj` are loaded (the unconditional pass skips them). */
  text: boolean;
  /** Globals: projections, time embedding, AdaLN input, final layer. */
  globalBytes: number;
  /** Block i's weights (what streaming uploads per step). */
  blockBytes: number[];
  /** Stored formats of the Linear weights, with how many use each. */
  formats: Partial<Record<StoredFormat, number>>;
}

export function ditFootprint(
  shape: DiTShape,
  globals: DiTGlobalsLayout,
  blocks: readonly DiTBlockLayout[],
): DiTFootprint {
  const formats: Partial<Record<StoredFormat, number>> = {};
  const count = (w: LinearLayout) => {
    const f = storedFormat(w);
    formats[f] = (formats[f] ?? 0) + 1;
  };
  const g = globals, e = shape.embDim;
  const affines = [g.inputProj, g.llmProj, g.tIn, g.tOut, g.adaln, g.finalLinear, g.finalMod];
  let globalBytes = 0;
  for (const a of affines) {
    if (!a) continue;
    globalBytes += affineGpuBytes(a);
    count(a.w);
  }
  if (g.llmProj) globalBytes += vectorGpuBytes(shape.llmFeaturesDim);
  const blockBytes = blocks.map((b) => {
    for (const w of [b.qkv, b.o, b.w1, b.w2, b.w3, b.mod.w]) count(w);
    return linearGpuBytes(b.qkv, 3) + linearGpuBytes(b.o) + linearGpuBytes(b.w1) +
      linearGpuBytes(b.w2) + linearGpuBytes(b.w3) + affineGpuBytes(b.mod, 4) +
      2 * vectorGpuBytes(shape.headDim) + 4 * vectorGpuBytes(e);
  });
  return { shape, text: !!g.llmProj, globalBytes, blockBytes, formats };
}

/** Every Linear in `format` (nf4 in blocks of 64), as a config alone implies. */
export function uniformLinear(format: StoredFormat, out: number, inF: number): LinearLayout {
  if (format === "nf4") return { format, out, in: inF, blocksize: NF4_BLOCKSIZE };
  if (format === "fp8") return { format, out, in: inF };
  return { format: "dense", dtype: format, out, in: inF };
}

/** A DiT whose Linears are all stored in `format` (the released checkpoints are). */
export function uniformDiTFootprint(
  s: DiTShape,
  format: StoredFormat,
  text = true,
): DiTFootprint {
  const lin = (out: number, inF: number) => uniformLinear(format, out, inF);
  const aff = (out: number, inF: number) => ({ w: lin(out, inF), bias: { length: out } });
  const e = s.embDim, f = s.intermediateSize;
  const globals: DiTGlobalsLayout = {
    inputProj: aff(e, s.inChannels),
    llmProj: text ? aff(e, s.llmFeaturesDim) : undefined,
    tIn: aff(e, e),
    tOut: aff(e, e),
    adaln: aff(s.adanlnDim, e),
    finalLinear: aff(s.inChannels, e),
    finalMod: aff(e, s.adanlnDim),
  };
  const block: DiTBlockLayout = {
    qkv: lin(3 * e, e),
    o: lin(e, e),
    w1: lin(f, e),
    w2: lin(e, f),
    w3: lin(f, e),
    mod: aff(4 * e, s.adanlnDim),
  };
  return ditFootprint(s, globals, Array.from({ length: s.numLayers }, () => block));
}

export function ditGpuBytes(d: DiTFootprint): number {
  return d.globalBytes + d.blockBytes.reduce((a, b) => a + b, 0);
}

// ---- text encoder

/** The sizes of the Qwen3 language model the activations depend on (`Qwen3Config` is one). */
export interface TextEncoderShape {
  /** Hidden size. */
  hiddenSize: number;
  /** Query heads. */
  numHeads: number;
  /** Key/value heads. */
  numKvHeads: number;
  /** Width of one head. */
  headDim: number;
  /** Hidden width of the MLP. */
  intermediateSize: number;
  /** Vocabulary size. */
  vocabSize: number;
}

/** One decoder layer's Linears (`Qwen3LayerHost` is one). */
export interface TextLayerLayout {
  q: LinearLayout;
  k: LinearLayout;
  v: LinearLayout;
  o: LinearLayout;
  gate: LinearLayout;
  up: LinearLayout;
  down: LinearLayout;
}

/** Bytes of the text encoder: GPU weights and the host-side embedding table. */
export interface TextEncoderFootprint {
  /** The sizes the activations depend on. */
  shape: TextEncoderShape;
  /** Layers 0 … last tap on the GPU. */
  gpuBytes: number;
  /** The embedding table, read on the host (a view over the mapped file). */
  hostBytes: number;
  /** Stored formats of the Linear weights, with how many use each. */
  formats: Partial<Record<StoredFormat, number>>;
}

export function textEncoderFootprint(
  shape: TextEncoderShape,
  layers: readonly TextLayerLayout[],
  embedBytes: number,
): TextEncoderFootprint {
  const formats: Partial<Record<StoredFormat, number>> = {};
  let gpuBytes = 0;
  for (const l of layers) {
    for (const w of [l.q, l.k, l.v, l.o, l.gate, l.up, l.down]) {
      gpuBytes += linearGpuBytes(w);
      const f = storedFormat(w);
      formats[f] = (formats[f] ?? 0) + 1;
    }
    // input_layernorm, post_attention_layernorm, q_norm, k_norm.
    gpuBytes += 2 * vectorGpuBytes(shape.hiddenSize) + 2 * vectorGpuBytes(shape.headDim);
  }
  return { shape, gpuBytes, hostBytes: embedBytes, formats };
}

/** Layers 0 … last tap in `format`, a bf16 embedding on the host. */
export function uniformTextEncoderFootprint(
  s: TextEncoderShape,
  format: StoredFormat,
): TextEncoderFootprint {
  const lin = (out: number, inF: number) => uniformLinear(format, out, inF);
  const h = s.hiddenSize, qd = s.numHeads * s.headDim, kvd = s.numKvHeads * s.headDim;
  const layer: TextLayerLayout = {
    q: lin(qd, h),
    k: lin(kvd, h),
    v: lin(kvd, h),
    o: lin(h, qd),
    gate: lin(s.intermediateSize, h),
    up: lin(s.intermediateSize, h),
    down: lin(h, s.intermediateSize),
  };
  const layers = QWEN3_TAP_LAYERS[QWEN3_TAP_LAYERS.length - 1] + 1;
  return textEncoderFootprint(
    s,
    Array.from({ length: layers }, () => layer),
    2 * s.vocabSize * s.hiddenSize,
  );
}

// ---- VAE decoder

/** GPU bytes of the VAE decoder's weights. */
export interface VaeFootprint {
  /** The decoder's configuration. */
  config: VaeDecoderConfig;
  /** Bytes per activation value (and per conv weight value: weights follow the activations). */
  actBytes: 2 | 4;
  /** Weights on the GPU. */
  gpuBytes: number;
}

/** The decoder's weights as uploaded: convs in the activation dtype, biases and norms f32. */
export function vaeFootprint(c: VaeDecoderConfig, actBytes: 2 | 4 = 4): VaeFootprint {
  const conv = (cout: number, cin: number, k: number) =>
    bufferBytes(actBytes * cout * cin * k * k) + vectorGpuBytes(cout);
  const norm = (ch: number) => 2 * vectorGpuBytes(ch);
  const resnet = (cin: number, cout: number) =>
    norm(cin) + conv(cout, cin, 3) + norm(cout) + conv(cout, cout, 3) +
    (cin === cout ? 0 : conv(cout, cin, 1));
  const mid = vaeMidChannels(c), z = c.latentChannels;
  let n = (c.usePostQuantConv ? conv(z, z, 1) : 0) + conv(mid, z, 3) + 2 * resnet(mid, mid);
  if (c.midBlockAttention) n += norm(mid) + 4 * conv(mid, mid, 1);
  for (const b of vaeUpBlocks(c)) {
    for (const r of b.resnets) n += resnet(r.cin, r.cout);
    const last = b.resnets[b.resnets.length - 1].cout;
    if (b.upsample) n += conv(last, last, 3);
  }
  const top = c.blockOutChannels[0];
  n += norm(top) + conv(c.outChannels, top, 3);
  return { config: c, actBytes, gpuBytes: n };
}

/** The three components' weights. */
export interface ModelFootprint {
  /** `text_encoder/`. */
  textEncoder: TextEncoderFootprint;
  /** `transformer/` (with text conditioning). */
  cond: DiTFootprint;
  /** `unconditional_transformer/` (image tokens only, no text projection). */
  uncond: DiTFootprint;
  /** `vae/`. */
  vae: VaeFootprint;
}
