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
import { parseVaeConfig, vaeMidChannels, vaeUpBlocks } from "../models/vae_config.ts";
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
  const resnet = (name: string, cin: number, cout: number) => {
    norm(`${name}.norm1`, cin);
    conv(`${name}.conv1`, cout, cin, 3);
    norm(`${name}.norm2`, cout);
    conv(`${name}.conv2`, cout, cout, 3);
    if (cin !== cout) conv(`${name}.conv_shortcut`, cout, cin, 1);
  };
  const z = config.latentChannels, mid = vaeMidChannels(config);
  conv("post_quant_conv", z, z, 1);
  conv("decoder.conv_in", mid, z, 3);
  resnet("decoder.mid_block.resnets.0", mid, mid);
  resnet("decoder.mid_block.resnets.1", mid, mid);
  const a = "decoder.mid_block.attentions.0";
  norm(`${a}.group_norm`, mid);
  for (const p of ["to_q", "to_k", "to_v", "to_out.0"]) linear(`${a}.${p}`, mid);
  for (const b of vaeUpBlocks(config)) {
    const name = `decoder.up_blocks.${b.index}`;
    b.resnets.forEach((r, j) => resnet(`${name}.resnets.${j}`, r.cin, r.cout));
    const c = b.resnets[b.resnets.length - 1].cout;
    if (b.upsample) conv(`${name}.upsamplers.0.conv`, c, c, 3);
  }
  const top = config.blockOutChannels[0];
  norm("decoder.conv_norm_out", top);
  conv("decoder.conv_out", config.outChannels, top, 3);
  // Never read by a decoder: unusable shapes on purpose.
  tensors["encoder.conv_in.weight"] = denseTensor(randn(15, seed++), [3, 5]);
  tensors["quant_conv.weight"] = denseTensor(randn(7, seed++), [7]);
  tensors["bn.running_mean"] = denseTensor(randn(128, seed++), [128]);
  return tensors;
}
