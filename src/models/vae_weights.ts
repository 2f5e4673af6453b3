/**
 * The Flux2 VAE decoder's weights on the host, decoded to f32 in PyTorch
 * layout, under diffusers' `AutoencoderKL` key names (spec §6). Shared by the
 * GPU decoder (which uploads them) and the CPU reference (which computes with
 * them directly). Only `post_quant_conv.*` and `decoder.*` are read; the
 * encoder half, `quant_conv` and the batch-norm statistics are never touched.
 *
 * Every shape is checked against the config, so a checkpoint that does not
 * match it fails here, naming the file and the tensor, not later on the GPU.
 * The attention projections are Linear `[C, C]` in diffusers (older exports
 * hold them as 1×1 convs `[C, C, 1, 1]`; both are taken) and become 1×1 convs.
 */
import { Checkpoint } from "../io/checkpoint.ts";
import { loadHostTensorF32 } from "../io/linear_loader.ts";
import { closestName, shapeText, type TensorStore } from "../io/tensor_store.ts";
import {
  parseVaeConfigJson,
  resolveVaeConfig,
  type VaeDecoderConfig,
  type VaeInferred,
  vaeMidChannels,
  vaeUpBlocks,
} from "./vae_config.ts";

/** A conv as stored: PyTorch `[Cout, Cin, k, k]` weight and `[Cout]` bias, f32. */
export interface HostConv {
  /** Key prefix, e.g. `decoder.conv_in` (labels and errors). */
  name: string;
  shape: [number, number, number, number];
  weight: Float32Array;
  bias: Float32Array;
}

/** A GroupNorm's affine parameters, f32 `[C]` each. */
export interface HostGroupNorm {
  name: string;
  gamma: Float32Array;
  beta: Float32Array;
}

/** `x + conv2(silu(norm2(conv1(silu(norm1(x))))))`, `x` through `shortcut` when widths differ. */
export interface HostResnet {
  norm1: HostGroupNorm;
  conv1: HostConv;
  norm2: HostGroupNorm;
  conv2: HostConv;
  shortcut?: HostConv;
}

/** Single-head attention over all pixels; projections as 1×1 convs. */
export interface HostAttention {
  norm: HostGroupNorm;
  q: HostConv;
  k: HostConv;
  v: HostConv;
  out: HostConv;
}

export interface HostUpBlock {
  resnets: HostResnet[];
  /** Nearest ×2 then this 3×3 conv; absent on the last block. */
  upsample?: HostConv;
}

/** The whole decoder, in execution order. */
export interface VaeDecoderWeights {
  config: VaeDecoderConfig;
  postQuantConv?: HostConv;
  convIn: HostConv;
  mid: { resnets: [HostResnet, HostResnet]; attention?: HostAttention };
  upBlocks: HostUpBlock[];
  normOut: HostGroupNorm;
  convOut: HostConv;
}

/** Files a store reads from, for error messages. */
function filesOf(store: TensorStore): string {
  return store instanceof Checkpoint ? store.files.map((f) => f.name).join(", ") : store.name;
}

/** Throws a message naming the store's files and the key when `name` is absent. */
function need(store: TensorStore, name: string): void {
  if (store.has(name)) return;
  const near = closestName(name, store.names());
  throw new Error(
    `VAE decoder: ${filesOf(store)} has no tensor '${name}'` +
      (near ? ` (did you mean '${near}'?)` : "") +
      ` — is this the vae/ folder of a Flux2 KL autoencoder in diffusers layout?`,
  );
}

async function f32(store: TensorStore, name: string, shape: number[]): Promise<Float32Array> {
  need(store, name);
  return (await loadHostTensorF32(store, name, shape)).data;
}

async function conv(
  store: TensorStore,
  name: string,
  cout: number,
  cin: number,
  k: 1 | 3,
): Promise<HostConv> {
  const shape: HostConv["shape"] = [cout, cin, k, k];
  return {
    name,
    shape,
    weight: await f32(store, `${name}.weight`, shape),
    bias: await f32(store, `${name}.bias`, [cout]),
  };
}

/** A Linear `[C, C]` (or 1×1 conv `[C, C, 1, 1]`) projection as a 1×1 conv. */
async function projection(store: TensorStore, name: string, c: number): Promise<HostConv> {
  const wName = `${name}.weight`;
  need(store, wName);
  const info = store.info(wName);
  const s = info.shape;
  const asLinear = s.length === 2 && s[0] === c && s[1] === c;
  const asConv = s.length === 4 && s[0] === c && s[1] === c && s[2] === 1 && s[3] === 1;
  if (!asLinear && !asConv) {
    throw new Error(
      `${info.file}: tensor '${wName}' has shape ${shapeText(s)}, expected [${c}, ${c}] ` +
        `(or [${c}, ${c}, 1, 1])`,
    );
  }
  return {
    name,
    shape: [c, c, 1, 1],
    weight: (await loadHostTensorF32(store, wName)).data,
    bias: await f32(store, `${name}.bias`, [c]),
  };
}

async function norm(store: TensorStore, name: string, c: number): Promise<HostGroupNorm> {
  return {
    name,
    gamma: await f32(store, `${name}.weight`, [c]),
    beta: await f32(store, `${name}.bias`, [c]),
  };
}

async function resnet(
  store: TensorStore,
  name: string,
  cin: number,
  cout: number,
): Promise<HostResnet> {
  return {
    norm1: await norm(store, `${name}.norm1`, cin),
    conv1: await conv(store, `${name}.conv1`, cout, cin, 3),
    norm2: await norm(store, `${name}.norm2`, cout),
    conv2: await conv(store, `${name}.conv2`, cout, cout, 3),
    shortcut: cin === cout ? undefined : await conv(store, `${name}.conv_shortcut`, cout, cin, 1),
  };
}

/** Loads and checks every decoder tensor the config implies. */
export async function loadVaeDecoderWeights(
  store: TensorStore,
  config: VaeDecoderConfig,
): Promise<VaeDecoderWeights> {
  const mid = vaeMidChannels(config), z = config.latentChannels;
  const d = "decoder.";
  const postQuantConv = config.usePostQuantConv
    ? await conv(store, "post_quant_conv", z, z, 1)
    : undefined;
  const convIn = await conv(store, `${d}conv_in`, mid, z, 3);
  const m = `${d}mid_block.`;
  const resnets: [HostResnet, HostResnet] = [
    await resnet(store, `${m}resnets.0`, mid, mid),
    await resnet(store, `${m}resnets.1`, mid, mid),
  ];
  let attention: HostAttention | undefined;
  if (config.midBlockAttention) {
    const a = `${m}attentions.0`;
    attention = {
      norm: await norm(store, `${a}.group_norm`, mid),
      q: await projection(store, `${a}.to_q`, mid),
      k: await projection(store, `${a}.to_k`, mid),
      v: await projection(store, `${a}.to_v`, mid),
      out: await projection(store, `${a}.to_out.0`, mid),
    };
  }
  const upBlocks: HostUpBlock[] = [];
  for (const plan of vaeUpBlocks(config)) {
    const b = `${d}up_blocks.${plan.index}`;
    const rs: HostResnet[] = [];
    for (const [j, r] of plan.resnets.entries()) {
      rs.push(await resnet(store, `${b}.resnets.${j}`, r.cin, r.cout));
    }
    const c = plan.resnets[plan.resnets.length - 1].cout;
    upBlocks.push({
      resnets: rs,
      upsample: plan.upsample ? await conv(store, `${b}.upsamplers.0.conv`, c, c, 3) : undefined,
    });
  }
  const top = config.blockOutChannels[0];
  return {
    config,
    postQuantConv,
    convIn,
    mid: { resnets, attention },
    upBlocks,
    normOut: await norm(store, `${d}conv_norm_out`, top),
    convOut: await conv(store, `${d}conv_out`, config.outChannels, top, 3),
  };
}

/** A 4-D conv weight's shape, the tensor required to exist; `source` for errors. */
function convShape(store: TensorStore, name: string): { shape: number[]; source: string } {
  need(store, name);
  const info = store.info(name);
  if (info.shape.length !== 4) {
    throw new Error(
      `${info.file}: tensor '${name}' has shape ${shapeText(info.shape)}; expected a conv ` +
        `weight [Cout, Cin, k, k]`,
    );
  }
  return { shape: info.shape, source: `${info.file}: tensor '${name}' ${shapeText(info.shape)}` };
}

/**
 * The decoder sizes the tensor shapes determine (diffusers names): the up
 * blocks' widths (`decoder.up_blocks.i.resnets.0.conv1`, reversed into
 * `block_out_channels`), resnets per up block (`layers_per_block + 1`), the
 * latent channels (`decoder.conv_in`) and the image channels
 * (`decoder.conv_out`). Every other shape is then checked by
 * {@link loadVaeDecoderWeights}.
 */
export function inferVaeShapes(store: TensorStore): VaeInferred {
  const d = "decoder.up_blocks.";
  const widths: number[] = [];
  let first = "";
  for (let i = 0; i === 0 || store.has(`${d}${i}.resnets.0.conv1.weight`); i++) {
    const c = convShape(store, `${d}${i}.resnets.0.conv1.weight`);
    widths.push(c.shape[0]);
    if (i === 0) first = c.source;
  }
  let resnets = 0;
  while (store.has(`${d}0.resnets.${resnets}.conv1.weight`)) resnets++;
  const convIn = convShape(store, "decoder.conv_in.weight");
  const convOut = convShape(store, "decoder.conv_out.weight");
  const upBlocks = `${widths.length} up blocks, widths from ${first} onwards`;
  return {
    blockOutChannels: { value: widths.reverse(), source: upBlocks },
    layersPerBlock: {
      value: resnets - 1,
      source: `${resnets} tensors 'decoder.up_blocks.0.resnets.N.conv1.weight'`,
    },
    latentChannels: { value: convIn.shape[1], source: convIn.source },
    outChannels: { value: convOut.shape[0], source: convOut.source },
  };
}

/**
 * The decoder's config for a store: shapes from the tensors, the rest from
 * `configText` (a `vae/config.json`, named `file`) or the Flux2 values.
 */
export function vaeConfigFor(
  store: TensorStore,
  configText?: string,
  file = "config.json",
): VaeDecoderConfig {
  if (configText === undefined) {
    const where = `${filesOf(store)} (no config.json: upstream's Flux2 values)`;
    return resolveVaeConfig({}, inferVaeShapes(store), where);
  }
  return resolveVaeConfig(parseVaeConfigJson(configText, file), inferVaeShapes(store), file);
}
