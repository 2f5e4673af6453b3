/**
 * The Ideogram 4 DiT's weights on the host, as stored (spec §2, §4), shared
 * by the GPU model (which uploads them layer by layer) and the CPU reference
 * (which dequantizes them). Linear weights stay in their stored format
 * (dense bf16/f16/f32, nf4, fp8; packed bytes are views over the file);
 * norm weights, biases and the indicator table are decoded to f32.
 *
 * Tensor names (reference `Ideogram4Transformer`), after an optional key
 * prefix: `input_proj`, `llm_cond_norm`, `llm_cond_proj`,
 * `t_embedding.mlp_in`, `t_embedding.mlp_out`, `adaln_proj`,
 * `embed_image_indicator`, `layers.N.attention.{qkv,o,norm_q,norm_k}`,
 * `layers.N.feed_forward.{w1,w2,w3}`,
 * `layers.N.{attention_norm1,attention_norm2,ffn_norm1,ffn_norm2}`,
 * `layers.N.adaln_modulation`, `final_layer.{linear,adaln_modulation}`.
 * `qkv`, `o`, `w1..w3` have no bias; every other Linear has one.
 */
import type { HostLinear } from "../formats/mod.ts";
import {
  type LinearLoadOptions,
  loadHostLinear,
  loadHostTensorF32,
  storedLinearShape as storedShape,
} from "../io/linear_loader.ts";
import { shapeText, type TensorStore } from "../io/tensor_store.ts";
import type { DiTConfig, DiTInferred, InferredSize } from "./dit_config.ts";

/** Key prefixes a DiT checkpoint may use (plain names first). */
export const DIT_PREFIXES = ["", "model.", "transformer."] as const;

/** A Linear with its bias. */
export interface HostAffine {
  w: HostLinear;
  bias: Float32Array;
}

export interface DiTLayerHost {
  /** `[3 * emb, emb]`, output rows `[q | k | v]`, each `[heads][headDim]`. */
  qkv: HostLinear;
  o: HostLinear;
  normQ: Float32Array;
  normK: Float32Array;
  w1: HostLinear;
  w2: HostLinear;
  w3: HostLinear;
  attnNorm1: Float32Array;
  attnNorm2: Float32Array;
  ffnNorm1: Float32Array;
  ffnNorm2: Float32Array;
  /** `[4 * emb, adanln]`: rows `[scale_msa | gate_msa | scale_mlp | gate_mlp]`. */
  mod: HostAffine;
}

export interface DiTHostGlobals {
  inputProj: HostAffine;
  /** Absent when loaded without text conditioning. */
  llmNorm?: Float32Array;
  llmProj?: HostAffine;
  tIn: HostAffine;
  tOut: HostAffine;
  adaln: HostAffine;
  /** `embed_image_indicator` `[2, emb]`: row 0 text tokens, row 1 image tokens. */
  indicator: Float32Array;
  finalLinear: HostAffine;
  finalMod: HostAffine;
}

export interface DiTHostWeights extends DiTHostGlobals {
  config: DiTConfig;
  prefix: string;
  layers: DiTLayerHost[];
}

/** Finds the key prefix from where `input_proj.weight` is. */
export function findDiTPrefix(store: TensorStore): string {
  for (const p of DIT_PREFIXES) if (store.has(`${p}input_proj.weight`)) return p;
  throw new Error(
    `${store.name}: not an Ideogram 4 DiT checkpoint (no ` +
      `${DIT_PREFIXES.map((p) => `'${p}input_proj.weight'`).join(", ")})`,
  );
}

/**
 * `[out, in]` of a Linear weight as stored, without reading the weight (the
 * format's `storedShape`: nf4 records it in its quant state), with its source.
 */
export async function storedLinearShape(
  store: TensorStore,
  name: string,
): Promise<{ shape: number[]; source: string }> {
  const info = store.info(name);
  const shape = await storedShape(store, name);
  if (shape.length !== 2) {
    throw new Error(
      `${info.file}: Linear weight '${name}' has shape ${shapeText(shape)}; expected [out, in]`,
    );
  }
  return { shape, source: `${info.file}: tensor '${name}' ${shapeText(shape)}` };
}

/** Layer indices present (`<prefix>layers.N.`); they must be 0 … n−1. */
export function countDiTLayers(store: TensorStore, prefix: string): InferredSize {
  const re = new RegExp(`^${prefix.replaceAll(".", "\\.")}layers\\.(\\d+)\\.`);
  const seen = new Set<number>();
  for (const n of store.names()) {
    const m = re.exec(n);
    if (m) seen.add(Number(m[1]));
  }
  const count = seen.size;
  if (count === 0) throw new Error(`${store.name}: no '${prefix}layers.N.*' tensors`);
  for (let i = 0; i < count; i++) {
    if (!seen.has(i)) {
      throw new Error(
        `${store.name}: layer ${i} is missing ('${prefix}layers.${i}.*'; layers up to ` +
          `${Math.max(...seen)} present)`,
      );
    }
  }
  return { value: count, source: `${store.name}: '${prefix}layers.0 … ${count - 1}'` };
}

/** Every size the weights reveal (reads only shapes and nf4 quant states). */
export async function inferDiTShapes(store: TensorStore, prefix: string): Promise<DiTInferred> {
  const lin = (n: string) => storedLinearShape(store, prefix + n);
  const input = await lin("input_proj.weight");
  const llm = await lin("llm_cond_proj.weight");
  const w1 = await lin("layers.0.feed_forward.w1.weight");
  const adaln = await lin("adaln_proj.weight");
  const qName = `${prefix}layers.0.attention.norm_q.weight`;
  const q = store.info(qName);
  if (q.shape.length !== 1) {
    throw new Error(`${q.file}: tensor '${qName}' has shape ${shapeText(q.shape)}; expected [D]`);
  }
  return {
    embDim: { value: input.shape[0], source: input.source },
    inChannels: { value: input.shape[1], source: input.source },
    llmFeaturesDim: { value: llm.shape[1], source: llm.source },
    intermediateSize: { value: w1.shape[0], source: w1.source },
    adanlnDim: { value: adaln.shape[0], source: adaln.source },
    headDim: { value: q.shape[0], source: `${q.file}: tensor '${qName}' ${shapeText(q.shape)}` },
    numLayers: countDiTLayers(store, prefix),
  };
}

async function vec(store: TensorStore, name: string, n: number): Promise<Float32Array> {
  return (await loadHostTensorF32(store, name, [n])).data;
}

async function affine(
  store: TensorStore,
  module: string,
  out: number,
  inF: number,
  opts: LinearLoadOptions,
): Promise<HostAffine> {
  return {
    w: await loadHostLinear(store, `${module}.weight`, [out, inF], opts),
    bias: await vec(store, `${module}.bias`, out),
  };
}

export interface DiTLayerOptions {
  /**
   * Decode fp8 / nf4 weights as the bf16 reference does (`torchBf16Decode`;
   * default true: the DiT's bf16-parity switch, `DiTLoadOptions.torchBf16`).
   */
  torchBf16?: boolean;
}

export interface DiTGlobalsOptions extends DiTLayerOptions {
  /** Load `llm_cond_norm` / `llm_cond_proj` (default true; the unconditional pass never uses them). */
  text?: boolean;
}

function linearOptions(opts: DiTLayerOptions): LinearLoadOptions {
  return { torchBf16: opts.torchBf16 ?? true };
}

/** Everything outside the blocks, every shape checked. */
export async function loadDiTHostGlobals(
  store: TensorStore,
  c: DiTConfig,
  prefix: string,
  opts: DiTGlobalsOptions = {},
): Promise<DiTHostGlobals> {
  const p = prefix, e = c.embDim;
  const text = opts.text ?? true;
  const lo = linearOptions(opts);
  return {
    inputProj: await affine(store, `${p}input_proj`, e, c.inChannels, lo),
    llmNorm: text ? await vec(store, `${p}llm_cond_norm.weight`, c.llmFeaturesDim) : undefined,
    llmProj: text ? await affine(store, `${p}llm_cond_proj`, e, c.llmFeaturesDim, lo) : undefined,
    tIn: await affine(store, `${p}t_embedding.mlp_in`, e, e, lo),
    tOut: await affine(store, `${p}t_embedding.mlp_out`, e, e, lo),
    adaln: await affine(store, `${p}adaln_proj`, c.adanlnDim, e, lo),
    indicator: (await loadHostTensorF32(store, `${p}embed_image_indicator.weight`, [2, e])).data,
    finalLinear: await affine(store, `${p}final_layer.linear`, c.inChannels, e, lo),
    finalMod: await affine(store, `${p}final_layer.adaln_modulation`, e, c.adanlnDim, lo),
  };
}

/** Block `i`, every shape checked. */
export async function loadDiTHostLayer(
  store: TensorStore,
  c: DiTConfig,
  prefix: string,
  i: number,
  opts: DiTLayerOptions = {},
): Promise<DiTLayerHost> {
  const l = `${prefix}layers.${i}.`, e = c.embDim, f = c.intermediateSize, d = c.headDim;
  const lo = linearOptions(opts);
  const lin = (name: string, out: number, inF: number) =>
    loadHostLinear(store, `${l}${name}.weight`, [out, inF], lo);
  return {
    qkv: await lin("attention.qkv", 3 * e, e),
    o: await lin("attention.o", e, e),
    normQ: await vec(store, `${l}attention.norm_q.weight`, d),
    normK: await vec(store, `${l}attention.norm_k.weight`, d),
    w1: await lin("feed_forward.w1", f, e),
    w2: await lin("feed_forward.w2", e, f),
    w3: await lin("feed_forward.w3", f, e),
    attnNorm1: await vec(store, `${l}attention_norm1.weight`, e),
    attnNorm2: await vec(store, `${l}attention_norm2.weight`, e),
    ffnNorm1: await vec(store, `${l}ffn_norm1.weight`, e),
    ffnNorm2: await vec(store, `${l}ffn_norm2.weight`, e),
    mod: await affine(store, `${l}adaln_modulation`, 4 * e, c.adanlnDim, lo),
  };
}

/** All weights (for the CPU reference; the GPU model loads layer by layer). */
export async function loadDiTHostWeights(
  store: TensorStore,
  config: DiTConfig,
  opts: DiTGlobalsOptions = {},
): Promise<DiTHostWeights> {
  const prefix = findDiTPrefix(store);
  const globals = await loadDiTHostGlobals(store, config, prefix, opts);
  const layers: DiTLayerHost[] = [];
  for (let i = 0; i < config.numLayers; i++) {
    layers.push(await loadDiTHostLayer(store, config, prefix, i, opts));
  }
  return { ...globals, config, prefix, layers };
}
