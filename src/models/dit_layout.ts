/**
 * The weight tree of an Ideogram 4 DiT checkpoint (released key names, no
 * prefix), declared once as data: each tensor's field in the host weights,
 * its module name and its shape, in file order. The loader
 * (`dit_weights.ts`) fills `DiTHostGlobals` / `DiTLayerHost` by walking
 * these tables, and the tiny and sparse checkpoint writers (`tiny/dit.ts`,
 * `checkpoint/layout.ts`) walk {@link ditTensorLayout}, so the architecture
 * is spelled out here only. Like `qwen3_layout.ts` and `vae_layout.ts`.
 */
import type { DiTConfig } from "./dit_config.ts";

/** One tensor of the tree, with the host-weights field it loads into. */
export type DiTTreeEntry<F extends string = string> =
  /** A Linear `${module}.weight` `[out, in]`, and `${module}.bias` `[out]` when `bias`. */
  | { kind: "linear"; field: F; module: string; out: number; in: number; bias: boolean }
  /** A norm weight `name` `[n]`. */
  | { kind: "norm"; field: F; name: string; n: number }
  /** The image/text indicator embedding `name` `[2, emb]`. */
  | { kind: "table"; field: F; name: string; shape: [number, number] };

/** One tensor of the checkpoint in file order (a tree entry; names relative to the prefix). */
export type DiTLayoutEntry = DiTTreeEntry;

/** The fields of `DiTHostGlobals`. */
export type DiTGlobalField =
  | "inputProj"
  | "llmNorm"
  | "llmProj"
  | "tIn"
  | "tOut"
  | "adaln"
  | "indicator"
  | "finalLinear"
  | "finalMod";

/** The fields of `DiTLayerHost`. */
export type DiTLayerField =
  | "qkv"
  | "o"
  | "normQ"
  | "normK"
  | "w1"
  | "w2"
  | "w3"
  | "attnNorm1"
  | "attnNorm2"
  | "ffnNorm1"
  | "ffnNorm2"
  | "mod";

/** The globals a pass without text never reads (the unconditional DiT does not load them). */
export const DIT_TEXT_FIELDS: readonly DiTGlobalField[] = ["llmNorm", "llmProj"];

const linear = <F extends string>(
  field: F,
  module: string,
  out: number,
  inF: number,
  bias: boolean,
): DiTTreeEntry<F> => ({ kind: "linear", field, module, out, in: inF, bias });
const norm = <F extends string>(field: F, name: string, n: number): DiTTreeEntry<F> => ({
  kind: "norm",
  field,
  name,
  n,
});

/** The globals stored before the blocks, in file order. */
function ditHead(c: DiTConfig): DiTTreeEntry<DiTGlobalField>[] {
  const e = c.embDim;
  return [
    linear("inputProj", "input_proj", e, c.inChannels, true),
    norm("llmNorm", "llm_cond_norm.weight", c.llmFeaturesDim),
    linear("llmProj", "llm_cond_proj", e, c.llmFeaturesDim, true),
    linear("tIn", "t_embedding.mlp_in", e, e, true),
    linear("tOut", "t_embedding.mlp_out", e, e, true),
    linear("adaln", "adaln_proj", c.adanlnDim, e, true),
    { kind: "table", field: "indicator", name: "embed_image_indicator.weight", shape: [2, e] },
  ];
}

/** The globals stored after the blocks, in file order. */
function ditTail(c: DiTConfig): DiTTreeEntry<DiTGlobalField>[] {
  const e = c.embDim;
  return [
    linear("finalLinear", "final_layer.linear", c.inChannels, e, true),
    linear("finalMod", "final_layer.adaln_modulation", e, c.adanlnDim, true),
  ];
}

/** Everything outside the blocks (file order: the head, then the tail). */
export function ditGlobalsLayout(c: DiTConfig): DiTTreeEntry<DiTGlobalField>[] {
  return [...ditHead(c), ...ditTail(c)];
}

/** Block `layers.N.`'s tensors, names relative to the block's prefix, in file order. */
export function ditLayerLayout(c: DiTConfig): DiTTreeEntry<DiTLayerField>[] {
  const e = c.embDim, f = c.intermediateSize;
  return [
    linear("qkv", "attention.qkv", 3 * e, e, false),
    linear("o", "attention.o", e, e, false),
    norm("normQ", "attention.norm_q.weight", c.headDim),
    norm("normK", "attention.norm_k.weight", c.headDim),
    linear("w1", "feed_forward.w1", f, e, false),
    linear("w2", "feed_forward.w2", e, f, false),
    linear("w3", "feed_forward.w3", f, e, false),
    norm("attnNorm1", "attention_norm1.weight", e),
    norm("attnNorm2", "attention_norm2.weight", e),
    norm("ffnNorm1", "ffn_norm1.weight", e),
    norm("ffnNorm2", "ffn_norm2.weight", e),
    linear("mod", "adaln_modulation", 4 * e, c.adanlnDim, true),
  ];
}

/** Block `i`'s key prefix, relative to the checkpoint's prefix. */
export function ditLayerPrefix(i: number): string {
  return `layers.${i}.`;
}

/** `entry` with its names under `prefix`. */
export function prefixed<F extends string>(
  entry: DiTTreeEntry<F>,
  prefix: string,
): DiTTreeEntry<F> {
  return entry.kind === "linear"
    ? { ...entry, module: prefix + entry.module }
    : { ...entry, name: prefix + entry.name };
}

/** Every tensor of the checkpoint, names relative to its prefix, in file order. */
export function ditTensorLayout(c: DiTConfig): DiTLayoutEntry[] {
  const out: DiTLayoutEntry[] = [...ditHead(c)];
  const layer = ditLayerLayout(c);
  for (let i = 0; i < c.numLayers; i++) {
    for (const x of layer) out.push(prefixed(x, ditLayerPrefix(i)));
  }
  out.push(...ditTail(c));
  return out;
}
