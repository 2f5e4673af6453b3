/**
 * A tiny random Flux2-style VAE checkpoint (tests and the embedded model): `config.json` (diffusers
 * `AutoencoderKLFlux2` keys) + `diffusion_pytorch_model.safetensors` with the
 * decoder's tensors under diffusers names. Same structure as the real decoder
 * (4 levels, 3 resnets per up block, two width changes with a 1×1 shortcut,
 * mid attention) with 8…32 channels in 4 groups. It also holds a few encoder
 * and batch-norm tensors no decoder may read; their shapes are unusable.
 */
import { denseTensor } from "../io/quantize.ts";
import type { TensorMap } from "../io/safetensors_writer.ts";
import { parseVaeConfig } from "../models/vae_config.ts";
import { vaeDecoderLayout, vaeLayoutEntries } from "../models/vae_layout.ts";
import { randn } from "./random.ts";

export const TINY_VAE_CONFIG = {
  _class_name: "AutoencoderKLFlux2",
  in_channels: 3,
  out_channels: 3,
  down_block_types: Array(4).fill("DownEncoderBlock2D"),
  up_block_types: Array(4).fill("UpDecoderBlock2D"),
  block_out_channels: [8, 16, 32, 32],
  layers_per_block: 2,
  act_fn: "silu",
  latent_channels: 32,
  norm_num_groups: 4,
  sample_size: 64,
  force_upcast: true,
  use_quant_conv: true,
  use_post_quant_conv: true,
  mid_block_add_attention: true,
  batch_norm_eps: 1e-4,
  batch_norm_momentum: 0.1,
  patch_size: [2, 2],
};

export interface TinyVaeOptions {
  /** Storage of every tensor. Default F32. */
  dtype?: "F32" | "BF16";
  seed?: number;
  /** Attention projections as 1×1 convs `[C, C, 1, 1]` (older exports) instead of Linear. */
  attentionAsConv?: boolean;
  /** Config overrides (e.g. another `block_out_channels`). */
  config?: Record<string, unknown>;
}

/** The config object a tiny checkpoint is written with. */
export function tinyVaeConfig(opts: TinyVaeOptions = {}): Record<string, unknown> {
  return { ...TINY_VAE_CONFIG, ...opts.config };
}

/** All tensors of a tiny checkpoint. */
export function tinyVaeTensors(opts: TinyVaeOptions = {}): TensorMap {
  const config = parseVaeConfig(JSON.stringify(tinyVaeConfig(opts)), "tiny config.json");
  const dtype = opts.dtype ?? "F32";
  let seed = opts.seed ?? 1;
  const tensors: TensorMap = {};
  const put = (name: string, v: Float32Array, shape: number[]) => {
    tensors[name] = denseTensor(v, shape, dtype);
  };
  // Weights scaled by 1/sqrt(fan in) so activations stay O(1) through every layer.
  const conv = (name: string, cout: number, cin: number, k: number) => {
    put(`${name}.weight`, randn(cout * cin * k * k, seed++, 1 / Math.sqrt(cin * k * k)), [
      cout,
      cin,
      k,
      k,
    ]);
    put(`${name}.bias`, randn(cout, seed++, 0.1), [cout]);
  };
  const linear = (name: string, c: number) => {
    const shape = opts.attentionAsConv ? [c, c, 1, 1] : [c, c];
    put(`${name}.weight`, randn(c * c, seed++, 1 / Math.sqrt(c)), shape);
    put(`${name}.bias`, randn(c, seed++, 0.1), [c]);
  };
  const norm = (name: string, c: number) => {
    // Near 1 and 0, never all equal (a wrong or swapped parameter must show).
    put(`${name}.weight`, randn(c, seed++, 0.2).map((x) => 1 + x), [c]);
    put(`${name}.bias`, randn(c, seed++, 0.1), [c]);
  };
  // post_quant_conv and the mid attention are written even where the config turns them off
  // (a decoder must then ignore them).
  const all = { ...config, usePostQuantConv: true, midBlockAttention: true };
  for (const e of vaeLayoutEntries(vaeDecoderLayout(all))) {
    if (e.kind === "conv") conv(e.name, e.cout, e.cin, e.k);
    else if (e.kind === "norm") norm(e.name, e.c);
    else linear(e.name, e.c);
  }
  // Never read by a decoder: unusable shapes on purpose.
  tensors["encoder.conv_in.weight"] = denseTensor(randn(15, seed++), [3, 5]);
  tensors["quant_conv.weight"] = denseTensor(randn(7, seed++), [7]);
  tensors["bn.running_mean"] = denseTensor(randn(128, seed++), [128]);
  return tensors;
}
