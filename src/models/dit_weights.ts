/**
 * The Ideogram 4 DiT's weights on the host, as stored (spec §2, §4), shared
 * by the GPU model (which uploads them layer by layer) and the CPU reference
 * (which dequantizes them). Linear weights stay in their stored format
 * (dense bf16/f16/f32, nf4, fp8; packed bytes are views over the file);
 * norm weights, biases and the indicator table are decoded to f32.
 *
 * Tensor names (reference `Ideogram4Transformer`), after an optional key
 * prefix, and which field each loads into: the tree in `dit_layout.ts`.
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
import {
  DIT_TEXT_FIELDS,
  type DiTGlobalField,
  ditGlobalsLayout,
  type DiTLayerField,
  ditLayerLayout,
  ditLayerPrefix,
  type DiTTreeEntry,
  prefixed,
} from "./dit_layout.ts";

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

// The layout's fields are exactly these interfaces' (checked at compile time).
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const _fieldsMatch: [
  Same<DiTGlobalField, keyof DiTHostGlobals>,
  Same<DiTLayerField, keyof DiTLayerHost>,
] = [true, true];

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

/** One tree entry's host value: a Linear (with its bias when it has one), a norm or the table. */
async function loadEntry(
  store: TensorStore,
  x: DiTTreeEntry,
  lo: LinearLoadOptions,
): Promise<HostLinear | HostAffine | Float32Array> {
  switch (x.kind) {
    case "linear": {
      const w = await loadHostLinear(store, `${x.module}.weight`, [x.out, x.in], lo);
      return x.bias ? { w, bias: await vec(store, `${x.module}.bias`, x.out) } : w;
    }
    case "norm":
      return await vec(store, x.name, x.n);
    case "table":
      return (await loadHostTensorF32(store, x.name, x.shape)).data;
  }
}

/** The entries of `entries` loaded under `prefix`, by field, in order. */
async function loadTree<F extends string>(
  store: TensorStore,
  entries: DiTTreeEntry<F>[],
  prefix: string,
  lo: LinearLoadOptions,
): Promise<Record<F, HostLinear | HostAffine | Float32Array>> {
  const out = {} as Record<F, HostLinear | HostAffine | Float32Array>;
  for (const x of entries) out[x.field] = await loadEntry(store, prefixed(x, prefix), lo);
  return out;
}

/** Everything outside the blocks (`dit_layout.ts`), every shape checked. */
export async function loadDiTHostGlobals(
  store: TensorStore,
  c: DiTConfig,
  prefix: string,
  opts: DiTGlobalsOptions = {},
): Promise<DiTHostGlobals> {
  const text = opts.text ?? true;
  const entries = ditGlobalsLayout(c).filter((x) => text || !DIT_TEXT_FIELDS.includes(x.field));
  // The tree's entries are the interface's fields, each of its kind (tests/models/layout_test.ts).
  return await loadTree(store, entries, prefix, linearOptions(opts)) as unknown as DiTHostGlobals;
}

/** Block `i` (`dit_layout.ts`), every shape checked. */
export async function loadDiTHostLayer(
  store: TensorStore,
  c: DiTConfig,
  prefix: string,
  i: number,
  opts: DiTLayerOptions = {},
): Promise<DiTLayerHost> {
  const entries = ditLayerLayout(c);
  const l = prefix + ditLayerPrefix(i);
  return await loadTree(store, entries, l, linearOptions(opts)) as unknown as DiTLayerHost;
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
