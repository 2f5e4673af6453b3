/**
 * The Ideogram 4 DiT's configuration (spec §4). Both transformers
 * (`transformer/`, `unconditional_transformer/`) use it.
 *
 * The released folders need not carry a `config.json` (the reference code
 * builds its config from defaults), so every size the weights reveal is
 * inferred from tensor shapes, and `config.json` — when present, with the
 * reference's field names `emb_dim, num_layers, num_heads, intermediate_size,
 * adanln_dim, in_channels, llm_features_dim, rope_theta, mrope_section,
 * norm_eps` — is checked against them. What no shape reveals (`rope_theta`,
 * `mrope_section`, `norm_eps`) comes from `config.json` or the released
 * defaults. A declared value that disagrees with the weights is an error
 * naming both the file and the tensor.
 */
import type { MropeSections } from "../ops/rope.ts";
import { TOKEN_CHANNELS } from "./ops/unpatchify.ts";
import { type ConfigJson, parseConfigObject } from "./config_json.ts";

/** The DiT's sizes and constants (reference field names in camelCase). */
export interface DiTConfig {
  /** Model width. */
  embDim: number;
  /** Transformer blocks. */
  numLayers: number;
  /** Attention heads. */
  numHeads: number;
  /** `embDim / numHeads`. */
  headDim: number;
  /** Hidden width of the feed-forward. */
  intermediateSize: number;
  /** Width of the AdaLN conditioning vector. */
  adanlnDim: number;
  /** Channels per latent token ({@link TOKEN_CHANNELS}: 32 VAE channels × 2×2 patch). */
  inChannels: number;
  /** Text feature width (13 taps × Qwen3 hidden = 53248). */
  llmFeaturesDim: number;
  /** RoPE base. */
  ropeTheta: number;
  /** Head-dim split of the multimodal RoPE over (text, y, x). */
  mropeSection: MropeSections;
  /** eps of the block norms (attention_norm1/2, ffn_norm1/2). */
  normEps: number;
}

/** The released model (spec §4). */
export const IDEOGRAM4_DIT: Readonly<DiTConfig> = {
  embDim: 4608,
  numLayers: 34,
  numHeads: 18,
  headDim: 256,
  intermediateSize: 12288,
  adanlnDim: 512,
  inChannels: TOKEN_CHANNELS,
  llmFeaturesDim: 53248,
  ropeTheta: 5_000_000,
  mropeSection: [24, 20, 20],
  normEps: 1e-5,
};

/** Fixed by the architecture, not configurable: eps of `norm_q`/`norm_k`, `llm_cond_norm`, the final LayerNorm. */
export const DIT_QK_NORM_EPS = 1e-5;
export const DIT_LLM_NORM_EPS = 1e-6;
export const DIT_FINAL_NORM_EPS = 1e-6;

/** Image grid coordinates start here so they never meet text positions (`0 … Ltxt-1`). */
export const DIT_IMAGE_POSITION_OFFSET = 65536;

/** What `config.json` declares, in the runtime's names; absent fields are undefined. */
export type DiTDeclared = Partial<Omit<DiTConfig, "headDim">>;

/** The `config.json` field of each declared value. */
export const DIT_CONFIG_KEYS: Record<keyof DiTDeclared, string> = {
  embDim: "emb_dim",
  numLayers: "num_layers",
  numHeads: "num_heads",
  intermediateSize: "intermediate_size",
  adanlnDim: "adanln_dim",
  inChannels: "in_channels",
  llmFeaturesDim: "llm_features_dim",
  ropeTheta: "rope_theta",
  mropeSection: "mrope_section",
  normEps: "norm_eps",
};

/** Parses `config.json` (`file` names it in errors); unknown keys (`_class_name`, …) are ignored. */
export function parseDiTConfig(text: string, file: string): DiTDeclared {
  return ditDeclaredFromJson(parseConfigObject(text, file), file);
}

/** Reads and type-checks the known fields of a parsed `config.json`. */
export function ditDeclaredFromJson(root: ConfigJson, file: string): DiTDeclared {
  const out: DiTDeclared = {};
  const bad = (key: string, v: unknown, what: string) =>
    new Error(`${file}: "${key}" is ${JSON.stringify(v)}; expected ${what}`);
  for (const field of Object.keys(DIT_CONFIG_KEYS) as (keyof DiTDeclared)[]) {
    const key = DIT_CONFIG_KEYS[field], v = root[key];
    if (v === undefined || v === null) continue;
    if (field === "mropeSection") {
      if (
        !Array.isArray(v) || v.length !== 3 || !v.every((s) => Number.isSafeInteger(s) && s >= 0)
      ) {
        throw bad(key, v, "three non-negative integers");
      }
      out.mropeSection = [v[0], v[1], v[2]];
    } else if (field === "ropeTheta" || field === "normEps") {
      if (typeof v !== "number" || !Number.isFinite(v) || !(v > 0)) {
        throw bad(key, v, "a positive number");
      }
      if (field === "ropeTheta" && !(v > 1)) throw bad(key, v, "a number > 1");
      out[field] = v;
    } else {
      if (!Number.isSafeInteger(v) || (v as number) <= 0) throw bad(key, v, "a positive integer");
      out[field] = v as number;
    }
  }
  return out;
}

/** A size read from the weights, with where it was read (for errors). */
export interface InferredSize {
  value: number;
  /** e.g. `transformer/x.safetensors: tensor 'input_proj.weight' [4608, 128]`. */
  source: string;
}

/** Sizes the weights reveal (see `inferDiTShapes` in dit_weights.ts). */
export interface DiTInferred {
  embDim: InferredSize;
  numLayers: InferredSize;
  headDim: InferredSize;
  intermediateSize: InferredSize;
  adanlnDim: InferredSize;
  inChannels: InferredSize;
  llmFeaturesDim: InferredSize;
}

/**
 * The config: inferred sizes, checked against the declared ones, plus the
 * declared (or released default) rope and eps values. `file` names the
 * config in errors (absent when there is none).
 */
export function resolveDiTConfig(
  declared: DiTDeclared,
  inferred: DiTInferred,
  file = "config.json",
): DiTConfig {
  const pick = (field: Exclude<keyof DiTInferred, "headDim">): number => {
    const got = inferred[field], want = declared[field];
    if (want !== undefined && want !== got.value) {
      throw new Error(
        `${file}: "${DIT_CONFIG_KEYS[field]}" is ${want}, but the weights have ${got.value} ` +
          `(${got.source})`,
      );
    }
    return got.value;
  };
  const embDim = pick("embDim");
  const headDim = inferred.headDim.value;
  if (embDim % headDim !== 0) {
    throw new Error(
      `${inferred.headDim.source}: head dim ${headDim} does not divide emb_dim ${embDim}`,
    );
  }
  const numHeads = embDim / headDim;
  if (declared.numHeads !== undefined && declared.numHeads !== numHeads) {
    throw new Error(
      `${file}: "num_heads" is ${declared.numHeads}, but the weights have ${numHeads} heads of ` +
        `${headDim} (${inferred.headDim.source}; emb_dim ${embDim})`,
    );
  }
  if (headDim % 4 !== 0 || headDim > 512) {
    throw new Error(
      `${inferred.headDim.source}: head dim ${headDim} is not a multiple of 4 up to 512 ` +
        `(what the attention kernel supports)`,
    );
  }
  const config: DiTConfig = {
    embDim,
    numLayers: pick("numLayers"),
    numHeads,
    headDim,
    intermediateSize: pick("intermediateSize"),
    adanlnDim: pick("adanlnDim"),
    inChannels: pick("inChannels"),
    llmFeaturesDim: pick("llmFeaturesDim"),
    ropeTheta: declared.ropeTheta ?? IDEOGRAM4_DIT.ropeTheta,
    mropeSection: declared.mropeSection ?? IDEOGRAM4_DIT.mropeSection,
    normEps: declared.normEps ?? IDEOGRAM4_DIT.normEps,
  };
  checkMrope(config, declared.mropeSection ? file : undefined);
  return config;
}

/**
 * The MRoPE sections must fit the head's `headDim / 2` frequencies: axis 1
 * takes frequencies 1, 4, … < 3·s1 and axis 2 takes 2, 5, … < 3·s2.
 */
function checkMrope(c: DiTConfig, file: string | undefined): void {
  const half = c.headDim / 2, [, s1, s2] = c.mropeSection;
  if (c.headDim % 2 !== 0 || 3 * s1 - 2 >= half || 3 * s2 - 1 >= half) {
    const from = file ? `${file}: "mrope_section"` : "the default mrope_section";
    throw new Error(
      `${from} (${c.mropeSection.join(", ")}) does not fit head dim ${c.headDim} ` +
        `(${half} frequencies; need 3·s1 − 2 and 3·s2 − 1 below ${half}); ` +
        `set "mrope_section" in config.json`,
    );
  }
}

/** The `config.json` object for a config (reference field names). */
export function ditConfigJson(c: DiTConfig): Record<string, unknown> {
  return {
    emb_dim: c.embDim,
    num_layers: c.numLayers,
    num_heads: c.numHeads,
    intermediate_size: c.intermediateSize,
    adanln_dim: c.adanlnDim,
    in_channels: c.inChannels,
    llm_features_dim: c.llmFeaturesDim,
    rope_theta: c.ropeTheta,
    mrope_section: [...c.mropeSection],
    norm_eps: c.normEps,
  };
}
