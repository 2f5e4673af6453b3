/**
 * A tiny random Qwen3-VL text-encoder checkpoint (tests and the embedded model): `config.json`
 * (transformers layout, `text_config` nested) + `model.safetensors`, in any
 * of the weight formats of spec §2. 36 layers so every Ideogram 4 tap exists;
 * GQA with 2 query heads per kv head. It also holds a few vision-tower
 * tensors (`model.visual.*`) that no loader may read: their shapes and dtypes
 * are deliberately unusable, and an `lm_head` the encoder does not need.
 */
import type { LinearFormatName } from "../formats/mod.ts";
import { denseTensor, quantizeLinear, quantizeNf4, u8Tensor } from "../io/quantize.ts";
import type { TensorMap } from "../io/safetensors_writer.ts";
import {
  QWEN3_EMBED_TOKENS,
  QWEN3_FINAL_NORM,
  qwen3LayerLayout,
  qwen3LayerPrefix,
} from "../models/qwen3_layout.ts";
import { randn } from "./random.ts";

/**
 * Weight format of a tiny checkpoint's Linears: dense `f32` or `bf16`,
 * `nf4-double` (nf4 with double-quantized absmax), or any quantized format of
 * the registry (`nf4`, `fp8`, `int8`, …) with its default options.
 */
export type TinyFormat = "f32" | "bf16" | "nf4-double" | Exclude<LinearFormatName, "dense">;

/** The tensors of Linear weight `name` (`[out, in]` `values`) in tiny format `format`. */
export function tinyLinear(
  format: TinyFormat,
  name: string,
  values: Float32Array,
  shape: [number, number],
): TensorMap {
  switch (format) {
    case "f32":
    case "bf16":
      return { [name]: denseTensor(values, shape, format === "f32" ? "F32" : "BF16") };
    case "nf4-double":
      return quantizeNf4(name, values, shape, { doubleQuant: true });
    default:
      return quantizeLinear(format, name, values, shape);
  }
}

export const TINY_QWEN3 = {
  hidden: 64,
  layers: 36,
  heads: 4,
  kvHeads: 2,
  headDim: 16,
  intermediate: 96,
  vocab: 300,
  eps: 1e-6,
  theta: 5_000_000,
} as const;

export interface TinyQwen3Options {
  format: TinyFormat;
  /** Key prefix of the language model. Default `model.language_model.`. */
  prefix?: string;
  seed?: number;
  /** Put `rope_theta` inside `rope_parameters` (newer transformers) instead of a field. */
  ropeParameters?: boolean;
  /** Vocabulary size (default 300; the embedded model uses Qwen3's 151936). */
  vocab?: number;
  /** Write an `lm_head` the encoder must ignore (default true). */
  lmHead?: boolean;
}

/** The `config.json` object for a tiny checkpoint in `format`. */
export function tinyQwen3Config(
  format: TinyFormat,
  ropeParameters = false,
  vocab: number = TINY_QWEN3.vocab,
): Record<string, unknown> {
  const t = TINY_QWEN3;
  const text: Record<string, unknown> = {
    model_type: "qwen3_vl_text",
    hidden_size: t.hidden,
    num_hidden_layers: t.layers,
    num_attention_heads: t.heads,
    num_key_value_heads: t.kvHeads,
    head_dim: t.headDim,
    intermediate_size: t.intermediate,
    rms_norm_eps: t.eps,
    vocab_size: vocab,
    attention_bias: false,
    hidden_act: "silu",
  };
  const mrope = { mrope_section: [3, 2, 2], mrope_interleaved: true };
  if (ropeParameters) {
    text.rope_parameters = { rope_type: "default", rope_theta: t.theta, ...mrope };
  } else {Object.assign(text, {
      rope_theta: t.theta,
      rope_scaling: { rope_type: "default", ...mrope },
    });}
  const config: Record<string, unknown> = {
    architectures: ["Qwen3VLForConditionalGeneration"],
    model_type: "qwen3_vl",
    text_config: text,
    vision_config: { depth: 1, hidden_size: 8 },
  };
  if (format === "nf4" || format === "nf4-double") {
    config.quantization_config = {
      quant_method: "bitsandbytes",
      load_in_4bit: true,
      bnb_4bit_quant_type: "nf4",
      bnb_4bit_use_double_quant: format === "nf4-double",
    };
  }
  if (format === "fp8") config.ideogram_fp8_weight_only = true;
  return config;
}

/** All tensors of a tiny checkpoint. */
export function tinyQwen3Tensors(opts: TinyQwen3Options): TensorMap {
  const t = TINY_QWEN3, p = opts.prefix ?? "model.language_model.";
  const vocab = opts.vocab ?? t.vocab;
  let seed = opts.seed ?? 1;
  // Small dense tensors: F32 for the f32 model, BF16 otherwise (as the real checkpoints).
  const smallDtype = opts.format === "f32" ? "F32" : "BF16";
  const tensors: TensorMap = {};
  const vector = (name: string, n: number) => {
    // Norm weights near 1, never all equal (a wrong weight must show).
    const v = randn(n, seed++, 0.2).map((x) => 1 + x);
    tensors[name] = denseTensor(v, [n], smallDtype);
  };
  const linear = (name: string, out: number, inF: number) => {
    const v = randn(out * inF, seed++, 1 / Math.sqrt(inF));
    Object.assign(tensors, tinyLinear(opts.format, name, v, [out, inF]));
  };
  tensors[p + QWEN3_EMBED_TOKENS] = denseTensor(
    randn(vocab * t.hidden, seed++),
    [vocab, t.hidden],
    smallDtype,
  );
  for (let i = 0; i < t.layers; i++) {
    const l = p + qwen3LayerPrefix(i);
    for (const e of qwen3LayerLayout(t)) {
      if (e.kind === "linear") linear(`${l}${e.module}.weight`, e.out, e.in);
      else vector(`${l}${e.module}.weight`, e.n);
    }
  }
  vector(p + QWEN3_FINAL_NORM, t.hidden);
  if (opts.lmHead ?? true) {
    tensors["lm_head.weight"] = denseTensor(randn(vocab * t.hidden, seed++), [vocab, t.hidden]);
  }
  // Vision tower: unusable on purpose (odd shapes, U8 "weights" without quant state).
  tensors["model.visual.patch_embed.proj.weight"] = denseTensor(randn(15, seed++), [3, 5]);
  tensors["model.visual.blocks.0.attn.qkv.weight"] = u8Tensor(new Uint8Array(7), [7]);
  tensors["model.visual.merger.norm.weight"] = denseTensor(randn(3, seed++), [3], "BF16");
  return tensors;
}
