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
} from "./vae_config.ts";
import {
  mapVaeDecoder,
  type VaeAttentionOf,
  vaeDecoderLayout,
  type VaeDecoderOf,
  vaeLayoutEntries,
  type VaeLayoutEntry,
  type VaeResnetOf,
  type VaeUpBlockOf,
} from "./vae_layout.ts";

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

/** A resnet as loaded. */
export type HostResnet = VaeResnetOf<HostConv, HostGroupNorm>;

/** Single-head attention over all pixels; projections as 1×1 convs. */
export type HostAttention = VaeAttentionOf<HostConv, HostGroupNorm>;

/** An up block as loaded. */
export type HostUpBlock = VaeUpBlockOf<HostConv, HostGroupNorm>;

/** The whole decoder, in execution order (the tree of `vae_layout.ts`), with its config. */
export type VaeDecoderWeights =
  & { config: VaeDecoderConfig }
  & VaeDecoderOf<HostConv, HostGroupNorm>;

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

/** Loads and checks every decoder tensor the config implies (the tree of `vae_layout.ts`). */
export async function loadVaeDecoderWeights(
  store: TensorStore,
  config: VaeDecoderConfig,
): Promise<VaeDecoderWeights> {
  const layout = vaeDecoderLayout(config);
  const loaded = new Map<string, HostConv | HostGroupNorm>();
  for (const e of vaeLayoutEntries(layout)) {
    loaded.set(
      e.name,
      e.kind === "conv"
        ? await conv(store, e.name, e.cout, e.cin, e.k)
        : e.kind === "norm"
        ? await norm(store, e.name, e.c)
        : await projection(store, e.name, e.c),
    );
  }
  const convOf = (e: VaeLayoutEntry) => loaded.get(e.name) as HostConv;
  const normOf = (e: VaeLayoutEntry) => loaded.get(e.name) as HostGroupNorm;
  return { config, ...mapVaeDecoder(layout, convOf, normOf, convOf) };
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
