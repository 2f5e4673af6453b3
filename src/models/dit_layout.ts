/**
 * The tensors of an Ideogram 4 DiT checkpoint (released key names, no
 * prefix), in file order, as data: what the test and sparse checkpoint
 * writers walk instead of each spelling the architecture out again. The
 * loader (`dit_weights.ts`) reads the same names.
 */
import type { DiTConfig } from "./dit_config.ts";

export type DiTLayoutEntry =
  /** A Linear: `${module}.weight` `[out, in]` (+ `${module}.bias` `[out]`). */
  | { kind: "linear"; module: string; out: number; in: number; bias: boolean }
  /** A norm weight `[n]`. */
  | { kind: "norm"; name: string; n: number }
  /** The image/text indicator embedding `[2, emb]`. */
  | { kind: "table"; name: string; shape: [number, number] };

export function ditTensorLayout(c: DiTConfig): DiTLayoutEntry[] {
  const e = c.embDim, f = c.intermediateSize;
  const out: DiTLayoutEntry[] = [];
  const linear = (module: string, o: number, i: number, bias: boolean) =>
    out.push({ kind: "linear", module, out: o, in: i, bias });
  const norm = (name: string, n: number) => out.push({ kind: "norm", name, n });
  linear("input_proj", e, c.inChannels, true);
  norm("llm_cond_norm.weight", c.llmFeaturesDim);
  linear("llm_cond_proj", e, c.llmFeaturesDim, true);
  linear("t_embedding.mlp_in", e, e, true);
  linear("t_embedding.mlp_out", e, e, true);
  linear("adaln_proj", c.adanlnDim, e, true);
  out.push({ kind: "table", name: "embed_image_indicator.weight", shape: [2, e] });
  for (let i = 0; i < c.numLayers; i++) {
    const l = `layers.${i}.`;
    linear(`${l}attention.qkv`, 3 * e, e, false);
    linear(`${l}attention.o`, e, e, false);
    norm(`${l}attention.norm_q.weight`, c.headDim);
    norm(`${l}attention.norm_k.weight`, c.headDim);
    linear(`${l}feed_forward.w1`, f, e, false);
    linear(`${l}feed_forward.w2`, e, f, false);
    linear(`${l}feed_forward.w3`, f, e, false);
    for (const n of ["attention_norm1", "attention_norm2", "ffn_norm1", "ffn_norm2"]) {
      norm(`${l}${n}.weight`, e);
    }
    linear(`${l}adaln_modulation`, 4 * e, c.adanlnDim, true);
  }
  linear("final_layer.linear", c.inChannels, e, true);
  linear("final_layer.adaln_modulation", e, c.adanlnDim, true);
  return out;
}
