/**
 * The Flux2 KL autoencoder's decoder configuration (spec §6). Upstream
 * builds the autoencoder from fixed parameters (our {@link FLUX2_VAE_DECODER})
 * and never reads `vae/config.json`, so a folder needs none: what the
 * weights' shapes determine (`block_out_channels`, `layers_per_block`,
 * `latent_channels`, `out_channels`) is read from them
 * ({@link resolveVaeConfig}), the rest (`norm_num_groups`, the mid-block
 * attention, `post_quant_conv`) comes from a `config.json` in the diffusers
 * `AutoencoderKLFlux2` layout when there is one, else from the Flux2 values.
 * A `config.json` value that disagrees with the shapes is an error naming
 * the key, both values and the tensor. Tests use `config.json` to build tiny
 * decoders with few channels and groups.
 *
 * Diffusers' decoder walks `block_out_channels` backwards: `up_blocks.i` has
 * `reversed[i]` channels and `layers_per_block + 1` resnets, and every block
 * but the last ends with a nearest ×2 upsample and a 3×3 conv. The mid block
 * works at `reversed[0]` channels with one attention head of that width.
 */
import { ATTENTION_MAX_HEAD_DIM } from "../ops/attention.ts";
import { type ConfigJson, parseConfigObject } from "./config_json.ts";

/** The Flux2-style VAE decoder's configuration (from `vae/config.json`). */
export interface VaeDecoderConfig {
  /** Encoder order, e.g. `[128, 256, 512, 512]`; the decoder uses it reversed. */
  blockOutChannels: readonly number[];
  /** Resnets per decoder up block minus one. */
  layersPerBlock: number;
  /** Channels of the VAE latent (32 for Flux2). */
  latentChannels: number;
  /** Image channels (3). */
  outChannels: number;
  /** GroupNorm groups, everywhere in the decoder. */
  normGroups: number;
  /** GroupNorm epsilon (diffusers fixes it at 1e-6 for this VAE). */
  normEps: number;
  /** Whether the mid block has its attention (diffusers `mid_block_add_attention`). */
  midBlockAttention: boolean;
  /** Whether the latent first goes through `post_quant_conv` (1×1). */
  usePostQuantConv: boolean;
}

/** The released model's decoder (Flux2 KL autoencoder). */
export const FLUX2_VAE_DECODER: VaeDecoderConfig = {
  blockOutChannels: [128, 256, 512, 512],
  layersPerBlock: 2,
  latentChannels: 32,
  outChannels: 3,
  normGroups: 32,
  normEps: 1e-6,
  midBlockAttention: true,
  usePostQuantConv: true,
};

/** One up block of the decoder, derived from the config. */
export interface VaeUpBlockPlan {
  /** Index in diffusers' `decoder.up_blocks`. */
  index: number;
  /** Channels in and out of each resnet (the first may change the width). */
  resnets: { cin: number; cout: number }[];
  /** Whether the block ends with nearest ×2 + 3×3 conv (`upsamplers.0.conv`). */
  upsample: boolean;
}

/** Channels of the mid block (the latent-resolution width). */
export function vaeMidChannels(c: VaeDecoderConfig): number {
  return c.blockOutChannels[c.blockOutChannels.length - 1];
}

/** The up blocks in execution order. */
export function vaeUpBlocks(c: VaeDecoderConfig): VaeUpBlockPlan[] {
  const rev = [...c.blockOutChannels].reverse();
  let cin = rev[0];
  return rev.map((cout, index) => {
    const resnets = Array.from({ length: c.layersPerBlock + 1 }, (_, j) => ({
      cin: j === 0 ? cin : cout,
      cout,
    }));
    cin = cout;
    return { index, resnets, upsample: index < rev.length - 1 };
  });
}

/** Image pixels per latent pixel along each axis (8 for Flux2). */
export function vaeScaleFactor(c: VaeDecoderConfig): number {
  return 2 ** (c.blockOutChannels.length - 1);
}

/** Parses the text of `vae/config.json`; `file` names it in errors. */
export function parseVaeConfig(text: string, file: string): VaeDecoderConfig {
  return vaeConfigFromJson(parseVaeConfigJson(text, file), file);
}

/** Reads the decoder's fields from a parsed config, Flux2 values where absent. */
export function vaeConfigFromJson(cfg: ConfigJson, file: string): VaeDecoderConfig {
  const d = FLUX2_VAE_DECODER;
  const int = (key: string, fallback: number): number => {
    const v = cfg[key] ?? fallback;
    if (!Number.isSafeInteger(v) || (v as number) <= 0) {
      throw new Error(`${file}: "${key}" is ${JSON.stringify(v)}; expected a positive integer`);
    }
    return v as number;
  };
  const bool = (key: string, fallback: boolean): boolean => {
    const v = cfg[key] ?? fallback;
    if (typeof v !== "boolean") {
      throw new Error(`${file}: "${key}" is ${JSON.stringify(v)}; expected true or false`);
    }
    return v;
  };
  const blocks = cfg.block_out_channels ?? d.blockOutChannels;
  if (
    !Array.isArray(blocks) || blocks.length === 0 ||
    !blocks.every((v) => Number.isSafeInteger(v) && v > 0)
  ) {
    throw new Error(
      `${file}: "block_out_channels" is ${JSON.stringify(blocks)}; expected a non-empty list ` +
        `of positive integers`,
    );
  }
  for (const [key, want] of [["act_fn", "silu"], ["norm_type", "group"]] as const) {
    if (cfg[key] !== undefined && cfg[key] !== want) {
      throw new Error(
        `${file}: "${key}" is ${JSON.stringify(cfg[key])}; only "${want}" is supported`,
      );
    }
  }
  const upTypes = cfg.up_block_types;
  if (upTypes !== undefined) {
    if (
      !Array.isArray(upTypes) || upTypes.length !== blocks.length ||
      !upTypes.every((t) => t === "UpDecoderBlock2D")
    ) {
      throw new Error(
        `${file}: "up_block_types" is ${JSON.stringify(upTypes)}; expected ` +
          `${blocks.length} × "UpDecoderBlock2D"`,
      );
    }
  }
  const config: VaeDecoderConfig = {
    blockOutChannels: blocks as number[],
    layersPerBlock: int("layers_per_block", d.layersPerBlock),
    latentChannels: int("latent_channels", d.latentChannels),
    outChannels: int("out_channels", d.outChannels),
    normGroups: int("norm_num_groups", d.normGroups),
    normEps: d.normEps,
    midBlockAttention: bool("mid_block_add_attention", d.midBlockAttention),
    usePostQuantConv: bool("use_post_quant_conv", d.usePostQuantConv),
  };
  checkVaeConfig(config, file);
  return config;
}

/** A size the weights determine, with the tensor it was read from (for errors). */
export interface VaeInferredSize<T> {
  value: T;
  /** e.g. `vae/x.safetensors: tensor 'decoder.conv_in.weight' [512, 32, 3, 3]`. */
  source: string;
}

/** What the decoder's tensor shapes determine (see `inferVaeShapes` in vae_weights.ts). */
export interface VaeInferred {
  blockOutChannels: VaeInferredSize<number[]>;
  layersPerBlock: VaeInferredSize<number>;
  latentChannels: VaeInferredSize<number>;
  outChannels: VaeInferredSize<number>;
}

/**
 * The config of a decoder whose shapes are `inferred`: those sizes, checked
 * against `declared` (a parsed `config.json`, `{}` without one; `file` names
 * it), plus the declared or Flux2 values of everything else.
 */
export function resolveVaeConfig(
  declared: ConfigJson,
  inferred: VaeInferred,
  file = "config.json",
): VaeDecoderConfig {
  const keys: [keyof VaeInferred, string][] = [
    ["blockOutChannels", "block_out_channels"],
    ["layersPerBlock", "layers_per_block"],
    ["latentChannels", "latent_channels"],
    ["outChannels", "out_channels"],
  ];
  const merged: ConfigJson = { ...declared };
  for (const [field, key] of keys) {
    const got = inferred[field], want = declared[key];
    if (want !== undefined && want !== null && JSON.stringify(want) !== JSON.stringify(got.value)) {
      throw new Error(
        `${file}: "${key}" is ${JSON.stringify(want)}, but the weights have ` +
          `${JSON.stringify(got.value)} (${got.source})`,
      );
    }
    merged[key] = got.value;
  }
  return vaeConfigFromJson(merged, file);
}

/** Parses a `config.json` text to its object (for {@link resolveVaeConfig}). */
export function parseVaeConfigJson(text: string, file: string): ConfigJson {
  return parseConfigObject(text, file);
}

/** Checks what the kernels need: whole groups, an attention width the kernel takes. */
export function checkVaeConfig(c: VaeDecoderConfig, file: string): void {
  for (const ch of c.blockOutChannels) {
    if (ch % c.normGroups !== 0) {
      throw new Error(
        `${file}: block channels ${ch} do not split into "norm_num_groups" ${c.normGroups}`,
      );
    }
  }
  const mid = vaeMidChannels(c);
  if (c.midBlockAttention && (mid % 4 !== 0 || mid > ATTENTION_MAX_HEAD_DIM)) {
    throw new Error(
      `${file}: the mid-block attention is one head of ${mid} channels; the attention kernel ` +
        `takes a multiple of 4 up to ${ATTENTION_MAX_HEAD_DIM}`,
    );
  }
}
