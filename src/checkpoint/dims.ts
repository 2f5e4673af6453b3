/**
 * The two sizes a random checkpoint comes in: the released model's (spec
 * §3–§5) and a small one with the tiny test models' dimensions (36 text
 * layers so every tap exists, Qwen3's real vocabulary so the real tokenizer
 * feeds it), for running the whole path on a software adapter.
 */
import { IDEOGRAM4_DIT } from "../models/dit_config.ts";
import { FLUX2_VAE_DECODER, parseVaeConfig } from "../models/vae_config.ts";
import { TINY_DIT } from "../tiny/dit.ts";
import { TINY_QWEN3 } from "../tiny/qwen3.ts";
import { TINY_VAE_CONFIG } from "../tiny/vae.ts";
import { type CheckpointDims, QWEN3_VL_8B } from "./layout.ts";

export const RELEASED_DIMS: Readonly<CheckpointDims> = {
  qwen3: QWEN3_VL_8B,
  dit: IDEOGRAM4_DIT,
  vae: FLUX2_VAE_DECODER,
};

export const SMALL_DIMS: Readonly<CheckpointDims> = {
  qwen3: {
    hidden: TINY_QWEN3.hidden,
    layers: TINY_QWEN3.layers,
    heads: TINY_QWEN3.heads,
    kvHeads: TINY_QWEN3.kvHeads,
    headDim: TINY_QWEN3.headDim,
    intermediate: TINY_QWEN3.intermediate,
    vocab: QWEN3_VL_8B.vocab,
    mropeSection: [3, 2, 2],
  },
  dit: TINY_DIT,
  vae: parseVaeConfig(JSON.stringify(TINY_VAE_CONFIG), "TINY_VAE_CONFIG"),
};
