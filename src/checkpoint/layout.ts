/**
 * Every tensor of a checkpoint in the published Ideogram 4 layout (spec §1–§2),
 * as data: names, dtypes and shapes, the few bytes that are fixed (nf4 code
 * books, quant-state JSON), and for every other tensor how plausible random
 * values are drawn. Two writers walk these lists: the random checkpoint writer
 * (`random.ts`, `cli.ts make-checkpoint`) fills every byte, the tests' sparse
 * writer writes headers only. Sizes come in as dimensions, so the same lists
 * describe the released model and a small one.
 *
 * The models' weight trees come from their one declaration each
 * (`models/dit_layout.ts`, `models/qwen3_layout.ts`, `models/vae_layout.ts`), which the loaders,
 * uploads and tiny writers walk too; what only a published file holds
 * (vision tower, `lm_head`, encoder tensors, quantization metadata) is
 * written out here.
 *
 * Layouts: text encoder = Qwen3-VL-8B's language model in transformers' names
 * plus a few vision-tower and `lm_head` tensors no loader may read
 * (bitsandbytes nf4 with double quantization, as transformers writes it, or
 * fp8 with `ideogram_fp8_weight_only`); both DiTs with every Linear nf4
 * without double quantization (the reference's `compress_statistics=False`)
 * or fp8; norms, biases, embeddings bf16; the Flux2 VAE decoder (bf16) plus a
 * few encoder tensors.
 */
import { dynamicQuantMap, NF4_CODE } from "../io/quantize.ts";
import type { SafetensorsDType } from "../io/tensor_store.ts";
import { type DiTConfig, ditConfigJson } from "../models/dit_config.ts";
import { ditTensorLayout } from "../models/dit_layout.ts";
import {
  QWEN3_EMBED_TOKENS,
  QWEN3_FINAL_NORM,
  qwen3LayerLayout,
  qwen3LayerPrefix,
} from "../models/qwen3_layout.ts";
import type { VaeDecoderConfig } from "../models/vae_config.ts";
import { vaeDecoderLayout, vaeLayoutEntries } from "../models/vae_layout.ts";

export type CheckpointFormat = "nf4" | "fp8" | "int8";

/** Every {@link CheckpointFormat}, for flags and tests. */
export const CHECKPOINT_FORMATS: readonly CheckpointFormat[] = ["nf4", "fp8", "int8"];
export type CheckpointComponent =
  | "text_encoder"
  | "transformer"
  | "unconditional_transformer"
  | "vae";

export const CHECKPOINT_COMPONENTS: readonly CheckpointComponent[] = [
  "text_encoder",
  "transformer",
  "unconditional_transformer",
  "vae",
];

/** How the random writer draws a tensor's bytes. */
export type RandomInit =
  /** Float values (BF16 / F32) `mean + std · N(0, 1)`. */
  | { kind: "normal"; std: number; mean?: number }
  /** Float values (F32) uniform in `[lo, hi]` (block and row scales). */
  | { kind: "uniform"; lo: number; hi: number }
  /** Uniform random bytes: nf4 codes (NF4's 16 codes are N(0,1) quantiles, so equally likely) and U8 absmax codes. */
  | { kind: "bytes" }
  /** e4m3fn codes of `N(0, 1) · FP8_UNIT` (a row-scaled fp8 weight before its scale). */
  | { kind: "fp8" }
  /** int8 codes of `N(0, 1) · INT8_UNIT`, rounded (a row-scaled int8 weight before its scale). */
  | { kind: "int8" };

/** One tensor: its header entry, plus fixed bytes or how to draw random ones. */
export interface LayoutTensor {
  dtype: SafetensorsDType;
  shape: number[];
  data?: Uint8Array;
  init?: RandomInit;
}

/** Tensors by name, in file order (a Map so tests can edit, delete and re-add). */
export type LayoutTensors = Map<string, LayoutTensor>;

/** Qwen3-VL text-model dimensions (the `text_config` a checkpoint carries). */
export interface Qwen3Dims {
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  intermediate: number;
  vocab: number;
  mropeSection: readonly [number, number, number];
}

/** Qwen3-VL-8B-Instruct's language model (spec §3). */
export const QWEN3_VL_8B: Readonly<Qwen3Dims> = {
  hidden: 4096,
  layers: 36,
  heads: 32,
  kvHeads: 8,
  headDim: 128,
  intermediate: 12288,
  vocab: 151936,
  mropeSection: [24, 20, 20],
};

/** Scale of fp8 codes: N(0,1) samples times this stay below e4m3's 448 (≈ 5σ). */
export const FP8_UNIT = 448 / 5;
/** Scale of int8 codes: N(0,1) samples times this stay within ±127 (≈ 5σ). */
export const INT8_UNIT = 127 / 5;
const NF4_BLOCK = 64;
const NESTED_BLOCK = 256;

const bytesOf = (f: Float32Array) => new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
const bf16 = (init: RandomInit, ...shape: number[]): LayoutTensor => ({
  dtype: "BF16",
  shape,
  init,
});
/** Norm weights near 1, biases and tables near 0 (values a trained model has). */
const NORM: RandomInit = { kind: "normal", mean: 1, std: 0.1 };
const BIAS: RandomInit = { kind: "normal", std: 0.02 };

/**
 * The tensors of one Linear weight `name` (`…weight`) `[out, in]` in `format`,
 * with values of standard deviation `1/sqrt(in)`. nf4 block scales: about the
 * largest |value| of 64 normal samples (2–3 σ).
 */
export function linearTensors(
  t: LayoutTensors,
  name: string,
  out: number,
  inF: number,
  format: CheckpointFormat,
  doubleQuant = false,
): void {
  const std = 1 / Math.sqrt(inF);
  if (format === "fp8" || format === "int8") {
    const fp8 = format === "fp8";
    t.set(name, {
      dtype: fp8 ? "F8_E4M3" : "I8",
      shape: [out, inF],
      init: { kind: format },
    });
    const unit = std / (fp8 ? FP8_UNIT : INT8_UNIT);
    t.set(`${name}_scale`, {
      dtype: "F32",
      shape: [out],
      init: { kind: "uniform", lo: 0.9 * unit, hi: 1.1 * unit },
    });
    return;
  }
  const n = out * inF, blocks = Math.ceil(n / NF4_BLOCK);
  const state: Record<string, unknown> = {
    quant_type: "nf4",
    blocksize: NF4_BLOCK,
    dtype: "bfloat16",
    shape: [out, inF],
  };
  t.set(name, { dtype: "U8", shape: [Math.ceil(n / 2), 1], init: { kind: "bytes" } });
  t.set(`${name}.quant_map`, { dtype: "F32", shape: [16], data: bytesOf(NF4_CODE) });
  if (doubleQuant) {
    // absmax = map[code] · nested_absmax + offset, map in [-1, 1]: 2σ … 3σ.
    t.set(`${name}.absmax`, { dtype: "U8", shape: [blocks], init: { kind: "bytes" } });
    t.set(`${name}.nested_absmax`, {
      dtype: "F32",
      shape: [Math.ceil(blocks / NESTED_BLOCK)],
      init: { kind: "uniform", lo: 0.5 * std, hi: 0.5 * std },
    });
    t.set(`${name}.nested_quant_map`, {
      dtype: "F32",
      shape: [256],
      data: bytesOf(dynamicQuantMap()),
    });
    Object.assign(state, {
      nested_blocksize: NESTED_BLOCK,
      nested_offset: Math.fround(2.5 * std),
      nested_dtype: "float32",
    });
  } else {
    t.set(`${name}.absmax`, {
      dtype: "F32",
      shape: [blocks],
      init: { kind: "uniform", lo: 2 * std, hi: 3 * std },
    });
  }
  const json = new TextEncoder().encode(JSON.stringify(state));
  t.set(`${name}.quant_state.bitsandbytes__nf4`, { dtype: "U8", shape: [json.length], data: json });
}

/** Qwen3-VL in transformers' layout (`model.language_model.*`, `model.visual.*`, `lm_head`). */
export function textEncoderTensors(format: CheckpointFormat, q: Qwen3Dims): LayoutTensors {
  const t: LayoutTensors = new Map(), p = "model.language_model.";
  const lin = (name: string, out: number, inF: number) =>
    linearTensors(t, name, out, inF, format, true);
  t.set(p + QWEN3_EMBED_TOKENS, bf16({ kind: "normal", std: 0.02 }, q.vocab, q.hidden));
  for (let i = 0; i < q.layers; i++) {
    const l = p + qwen3LayerPrefix(i);
    for (const e of qwen3LayerLayout(q)) {
      if (e.kind === "linear") lin(`${l}${e.module}.weight`, e.out, e.in);
      else t.set(`${l}${e.module}.weight`, bf16(NORM, e.n));
    }
  }
  t.set(p + QWEN3_FINAL_NORM, bf16(NORM, q.hidden));
  t.set("lm_head.weight", bf16({ kind: "normal", std: 0.02 }, q.vocab, q.hidden));
  // A little of the vision tower: present in the files, never read.
  t.set("model.visual.patch_embed.proj.weight", bf16(BIAS, 1152, 3, 2, 16, 16));
  lin("model.visual.blocks.0.attn.qkv.weight", 3456, 1152);
  t.set("model.visual.blocks.0.attn.qkv.bias", bf16(BIAS, 3456));
  return t;
}

export function textEncoderConfig(format: CheckpointFormat, q: Qwen3Dims): Record<string, unknown> {
  const config: Record<string, unknown> = {
    architectures: ["Qwen3VLForConditionalGeneration"],
    model_type: "qwen3_vl",
    text_config: {
      model_type: "qwen3_vl_text",
      hidden_size: q.hidden,
      num_hidden_layers: q.layers,
      num_attention_heads: q.heads,
      num_key_value_heads: q.kvHeads,
      head_dim: q.headDim,
      intermediate_size: q.intermediate,
      rms_norm_eps: 1e-6,
      rope_theta: 5_000_000,
      rope_scaling: {
        rope_type: "default",
        mrope_section: [...q.mropeSection],
        mrope_interleaved: true,
      },
      vocab_size: q.vocab,
      attention_bias: false,
      hidden_act: "silu",
      max_position_embeddings: 262144,
      tie_word_embeddings: false,
    },
    vision_config: { depth: 27, hidden_size: 1152 },
  };
  if (format === "nf4") {
    config.quantization_config = {
      quant_method: "bitsandbytes",
      load_in_4bit: true,
      bnb_4bit_quant_type: "nf4",
      bnb_4bit_use_double_quant: true,
    };
  } else if (format === "fp8") {
    config.ideogram_fp8_weight_only = true;
  }
  return config;
}

/** One Ideogram 4 DiT of config `c` (spec §4); every Linear in `format`. */
export function ditTensors(format: CheckpointFormat, c: DiTConfig): LayoutTensors {
  const t: LayoutTensors = new Map();
  for (const x of ditTensorLayout(c)) {
    if (x.kind === "linear") {
      linearTensors(t, `${x.module}.weight`, x.out, x.in, format);
      if (x.bias) t.set(`${x.module}.bias`, bf16(BIAS, x.out));
    } else if (x.kind === "norm") t.set(x.name, bf16(NORM, x.n));
    else t.set(x.name, bf16({ kind: "normal", std: 0.5 }, ...x.shape));
  }
  return t;
}

/** The DiT's `config.json` (reference field names). */
export function ditConfig(c: DiTConfig): Record<string, unknown> {
  return { _class_name: "Ideogram4Transformer", ...ditConfigJson(c) };
}

/** The Flux2 KL autoencoder in diffusers names: the whole decoder and a little of the encoder. */
export function vaeTensors(c: VaeDecoderConfig): LayoutTensors {
  const t: LayoutTensors = new Map();
  const conv = (name: string, cout: number, cin: number, k: number) => {
    t.set(
      `${name}.weight`,
      bf16({ kind: "normal", std: 1 / Math.sqrt(cin * k * k) }, cout, cin, k, k),
    );
    t.set(`${name}.bias`, bf16(BIAS, cout));
  };
  const norm = (name: string, ch: number) => {
    t.set(`${name}.weight`, bf16(NORM, ch));
    t.set(`${name}.bias`, bf16(BIAS, ch));
  };
  conv("encoder.conv_in", c.blockOutChannels[0], 3, 3);
  conv("quant_conv", 2 * c.latentChannels, 2 * c.latentChannels, 1);
  for (const e of vaeLayoutEntries(vaeDecoderLayout(c))) {
    if (e.kind === "conv") conv(e.name, e.cout, e.cin, e.k);
    else if (e.kind === "norm") norm(e.name, e.c);
    else {
      t.set(`${e.name}.weight`, bf16({ kind: "normal", std: 1 / Math.sqrt(e.c) }, e.c, e.c));
      t.set(`${e.name}.bias`, bf16(BIAS, e.c));
    }
  }
  return t;
}

/** The VAE's `config.json` (diffusers `AutoencoderKLFlux2` keys). */
export function vaeConfig(c: VaeDecoderConfig): Record<string, unknown> {
  return {
    _class_name: "AutoencoderKLFlux2",
    in_channels: 3,
    out_channels: c.outChannels,
    latent_channels: c.latentChannels,
    block_out_channels: [...c.blockOutChannels],
    down_block_types: c.blockOutChannels.map(() => "DownEncoderBlock2D"),
    up_block_types: c.blockOutChannels.map(() => "UpDecoderBlock2D"),
    layers_per_block: c.layersPerBlock,
    norm_num_groups: c.normGroups,
    act_fn: "silu",
    mid_block_add_attention: c.midBlockAttention,
    use_quant_conv: true,
    use_post_quant_conv: c.usePostQuantConv,
    patch_size: [2, 2],
  };
}

/** The sizes of a whole checkpoint. */
export interface CheckpointDims {
  qwen3: Qwen3Dims;
  dit: DiTConfig;
  vae: VaeDecoderConfig;
}

/** One component's tensors and `config.json` object. */
export function componentLayout(
  component: CheckpointComponent,
  format: CheckpointFormat,
  dims: CheckpointDims,
): { tensors: LayoutTensors; config: Record<string, unknown> } {
  switch (component) {
    case "text_encoder":
      return {
        tensors: textEncoderTensors(format, dims.qwen3),
        config: textEncoderConfig(format, dims.qwen3),
      };
    case "vae":
      return { tensors: vaeTensors(dims.vae), config: vaeConfig(dims.vae) };
    default:
      return { tensors: ditTensors(format, dims.dit), config: ditConfig(dims.dit) };
  }
}

/** Shards of each component in the published layout (1 = one file, no index). */
export const COMPONENT_SHARDS: Record<CheckpointComponent, number> = {
  text_encoder: 2,
  transformer: 2,
  unconditional_transformer: 1,
  vae: 1,
};

/** File stem of each component's weights. */
export const COMPONENT_STEMS: Record<CheckpointComponent, string> = {
  text_encoder: "model",
  transformer: "diffusion_pytorch_model",
  unconditional_transformer: "diffusion_pytorch_model",
  vae: "diffusion_pytorch_model",
};
