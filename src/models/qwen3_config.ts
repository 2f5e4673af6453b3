/**
 * The Qwen3-VL text encoder's configuration (spec §3), read from
 * `text_encoder/config.json` in the Hugging Face transformers layout: the
 * language model's fields sit under `text_config` (Qwen3-VL) or at the top
 * level (a plain Qwen3 config). `rope_theta` is a field of its own in older
 * configs and inside `rope_parameters` / `rope_scaling` in newer ones.
 *
 * The weight format is told by the top-level keys: `quantization_config`
 * (transformers bitsandbytes 4-bit → nf4) or `ideogram_fp8_weight_only: true`
 * (fp8); otherwise dense. The loader detects each Linear's format from its
 * tensors anyway; the declared format is for logs and sanity checks.
 */
import { type ConfigJson, isConfigObject, parseConfigObject } from "./config_json.ts";

/** How the text encoder's Linear weights are stored, as its config declares it. */
export type Qwen3WeightFormat = "dense" | "nf4" | "fp8";

/** The text encoder's language-model sizes and constants. */
export interface Qwen3Config {
  /** Hidden size (residual stream width). */
  hiddenSize: number;
  /** Decoder layers. */
  numLayers: number;
  /** Query heads. */
  numHeads: number;
  /** Key/value heads (grouped-query attention). */
  numKvHeads: number;
  /** Width of one head. */
  headDim: number;
  /** Hidden width of the MLP. */
  intermediateSize: number;
  /** eps of the RMSNorms. */
  rmsNormEps: number;
  /** RoPE base. */
  ropeTheta: number;
  /** Vocabulary size (embedding rows). */
  vocabSize: number;
  /** The weight format the config declares. */
  format: Qwen3WeightFormat;
}

/** Hidden states tapped for Ideogram 4's features (after these decoder layers, 0-based). */
export const QWEN3_TAP_LAYERS: readonly number[] = [0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 33, 35];

/** Parses the text of `config.json`; `file` names it in errors. */
export function parseQwen3Config(text: string, file: string): Qwen3Config {
  return qwen3ConfigFromJson(parseConfigObject(text, file), file);
}

/** Reads the fields from a parsed config object (nested `text_config` or flat). */
export function qwen3ConfigFromJson(root: ConfigJson, file: string): Qwen3Config {
  const nested = root.text_config;
  if (nested !== undefined && !isConfigObject(nested)) {
    throw new Error(`${file}: "text_config" is not an object`);
  }
  const cfg = nested ?? root;
  const where = nested ? "text_config." : "";

  const int = (key: string, fallback?: number): number => {
    const v = cfg[key] ?? fallback;
    if (v === undefined) throw new Error(`${file}: missing key "${where}${key}"`);
    if (!Number.isSafeInteger(v) || (v as number) <= 0) {
      throw new Error(
        `${file}: "${where}${key}" is ${JSON.stringify(v)}; expected a positive integer`,
      );
    }
    return v as number;
  };
  const positive = (v: unknown, key: string): number => {
    if (typeof v !== "number" || !(v > 0) || !Number.isFinite(v)) {
      throw new Error(`${file}: "${key}" is ${JSON.stringify(v)}; expected a positive number`);
    }
    return v;
  };

  const hiddenSize = int("hidden_size");
  const numHeads = int("num_attention_heads");
  const numKvHeads = int("num_key_value_heads", numHeads);
  const headDim = int("head_dim", hiddenSize / numHeads);
  if (numHeads % numKvHeads !== 0) {
    throw new Error(
      `${file}: "${where}num_attention_heads" ${numHeads} is not a multiple of ` +
        `"${where}num_key_value_heads" ${numKvHeads}`,
    );
  }
  if (headDim % 2 !== 0) throw new Error(`${file}: "${where}head_dim" ${headDim} is odd`);
  if (cfg.attention_bias === true) {
    throw new Error(`${file}: "${where}attention_bias" is true; Qwen3-VL's text model has none`);
  }

  const config: Qwen3Config = {
    hiddenSize,
    numLayers: int("num_hidden_layers"),
    numHeads,
    numKvHeads,
    headDim,
    intermediateSize: int("intermediate_size"),
    rmsNormEps: positive(cfg.rms_norm_eps ?? 1e-6, `${where}rms_norm_eps`),
    ropeTheta: ropeTheta(cfg, file, where),
    vocabSize: int("vocab_size"),
    format: declaredFormat(root, file),
  };
  const lastTap = QWEN3_TAP_LAYERS[QWEN3_TAP_LAYERS.length - 1];
  if (config.numLayers <= lastTap) {
    throw new Error(
      `${file}: "${where}num_hidden_layers" is ${config.numLayers}; Ideogram 4 taps layer ` +
        `${lastTap}, so at least ${lastTap + 1} are needed`,
    );
  }
  return config;
}

/** `rope_theta`, from the field itself or from `rope_parameters` / `rope_scaling`. */
function ropeTheta(cfg: ConfigJson, file: string, where: string): number {
  const places: [string, unknown][] = [
    ["rope_theta", cfg.rope_theta],
    [
      "rope_parameters.rope_theta",
      isConfigObject(cfg.rope_parameters) ? cfg.rope_parameters.rope_theta : undefined,
    ],
    [
      "rope_scaling.rope_theta",
      isConfigObject(cfg.rope_scaling) ? cfg.rope_scaling.rope_theta : undefined,
    ],
  ];
  const found = places.find(([, v]) => v !== undefined);
  if (!found) {
    throw new Error(
      `${file}: missing key "${where}rope_theta" (also looked in ` +
        `"${where}rope_parameters.rope_theta" and "${where}rope_scaling.rope_theta")`,
    );
  }
  const [key, v] = found;
  if (typeof v !== "number" || !(v > 1) || !Number.isFinite(v)) {
    throw new Error(`${file}: "${where}${key}" is ${JSON.stringify(v)}; expected a number > 1`);
  }
  return v;
}

function declaredFormat(root: ConfigJson, file: string): Qwen3WeightFormat {
  const fp8 = root.ideogram_fp8_weight_only === true;
  const q = root.quantization_config;
  if (fp8 && q !== undefined) {
    throw new Error(
      `${file}: both "ideogram_fp8_weight_only" and "quantization_config" are set; ` +
        `a checkpoint is in one format`,
    );
  }
  if (fp8) return "fp8";
  if (q === undefined) return "dense";
  if (!isConfigObject(q)) throw new Error(`${file}: "quantization_config" is not an object`);
  const method = q.quant_method ?? "bitsandbytes";
  const type = q.bnb_4bit_quant_type ?? "nf4";
  if (method !== "bitsandbytes" || q.load_in_8bit === true || type !== "nf4") {
    throw new Error(
      `${file}: "quantization_config" (quant_method ${JSON.stringify(method)}, ` +
        `bnb_4bit_quant_type ${JSON.stringify(type)}) is not bitsandbytes 4-bit nf4, ` +
        `the only quantization supported`,
    );
  }
  return "nf4";
}
