/**
 * Real-size checkpoints that cost no disk: every tensor of the released
 * architecture (Qwen3-VL-8B's language model plus a few vision-tower and
 * `lm_head` tensors no loader may read, both DiTs at spec §4 sizes, the Flux2
 * VAE decoder plus a few encoder tensors), in the published nf4 or fp8
 * layout, with valid safetensors headers and the data region left as a file
 * hole (the file is truncated to its full size; holes read as zeros). Only
 * the small tensors whose bytes matter are written: nf4 quant states (JSON
 * holding each weight's shape) and code books.
 *
 * The names and shapes are written out here from the spec and the reference
 * checkpoints' conventions, not taken from the loaders, so the checker is
 * tested against an independent description of the architecture.
 *
 * Layouts: text encoder sharded in two with an index (bitsandbytes nf4 with
 * double quantization, as transformers writes it, or fp8 with
 * `ideogram_fp8_weight_only`); `transformer/` sharded in two with an index;
 * `unconditional_transformer/` and `vae/` one file each. DiT Linears nf4
 * without double quantization (the reference's `compress_statistics=False`)
 * or fp8; norms, biases, embeddings bf16.
 */
import { ditTensorLayout } from "../../src/models/dit_layout.ts";
import { dynamicQuantMap, NF4_CODE } from "../../src/io/quantize.ts";
import { ITEM_BYTES, numelOf, type SafetensorsDType } from "../../src/io/tensor_store.ts";
import { ditConfigJson, IDEOGRAM4_DIT } from "../../src/models/dit_config.ts";
import { FLUX2_VAE_DECODER, vaeMidChannels, vaeUpBlocks } from "../../src/models/vae_config.ts";

export type SparseFormat = "nf4" | "fp8";
export type SparseComponent = "text_encoder" | "transformer" | "unconditional_transformer" | "vae";

/** One tensor: its header entry and, for the few that need them, real bytes. */
export interface SparseTensor {
  dtype: SafetensorsDType;
  shape: number[];
  data?: Uint8Array;
}

/** Tensors by name (a Map so tests can edit, delete and re-add). */
export type SparseTensors = Map<string, SparseTensor>;

/** Qwen3-VL-8B-Instruct's language model (spec §3). */
export const QWEN3_VL_8B = {
  hidden: 4096,
  layers: 36,
  heads: 32,
  kvHeads: 8,
  headDim: 128,
  intermediate: 12288,
  vocab: 151936,
} as const;

const bytesOf = (f: Float32Array) => new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
const NF4_BLOCK = 64;
const NESTED_BLOCK = 256;

/** The tensors of one Linear weight `name` (`…weight`) `[out, in]` in `format`. */
export function linearTensors(
  t: SparseTensors,
  name: string,
  out: number,
  inF: number,
  format: SparseFormat,
  doubleQuant = false,
): void {
  if (format === "fp8") {
    t.set(name, { dtype: "F8_E4M3", shape: [out, inF] });
    t.set(`${name}_scale`, { dtype: "F32", shape: [out] });
    return;
  }
  const n = out * inF, blocks = Math.ceil(n / NF4_BLOCK);
  const state: Record<string, unknown> = {
    quant_type: "nf4",
    blocksize: NF4_BLOCK,
    dtype: "bfloat16",
    shape: [out, inF],
  };
  t.set(name, { dtype: "U8", shape: [Math.ceil(n / 2), 1] });
  t.set(`${name}.quant_map`, { dtype: "F32", shape: [16], data: bytesOf(NF4_CODE) });
  if (doubleQuant) {
    t.set(`${name}.absmax`, { dtype: "U8", shape: [blocks] });
    t.set(`${name}.nested_absmax`, { dtype: "F32", shape: [Math.ceil(blocks / NESTED_BLOCK)] });
    t.set(`${name}.nested_quant_map`, {
      dtype: "F32",
      shape: [256],
      data: bytesOf(dynamicQuantMap()),
    });
    Object.assign(state, {
      nested_blocksize: NESTED_BLOCK,
      nested_offset: 0.01,
      nested_dtype: "float32",
    });
  } else {
    t.set(`${name}.absmax`, { dtype: "F32", shape: [blocks] });
  }
  const json = new TextEncoder().encode(JSON.stringify(state));
  t.set(`${name}.quant_state.bitsandbytes__nf4`, { dtype: "U8", shape: [json.length], data: json });
}

const bf16 = (...shape: number[]): SparseTensor => ({ dtype: "BF16", shape });

/** Qwen3-VL-8B in transformers' layout (`model.language_model.*`, `model.visual.*`, `lm_head`). */
export function textEncoderTensors(format: SparseFormat): SparseTensors {
  const q = QWEN3_VL_8B, t: SparseTensors = new Map(), p = "model.language_model.";
  const lin = (name: string, out: number, inF: number) =>
    linearTensors(t, name, out, inF, format, true);
  t.set(`${p}embed_tokens.weight`, bf16(q.vocab, q.hidden));
  for (let i = 0; i < q.layers; i++) {
    const l = `${p}layers.${i}.`;
    t.set(`${l}input_layernorm.weight`, bf16(q.hidden));
    t.set(`${l}post_attention_layernorm.weight`, bf16(q.hidden));
    t.set(`${l}self_attn.q_norm.weight`, bf16(q.headDim));
    t.set(`${l}self_attn.k_norm.weight`, bf16(q.headDim));
    lin(`${l}self_attn.q_proj.weight`, q.heads * q.headDim, q.hidden);
    lin(`${l}self_attn.k_proj.weight`, q.kvHeads * q.headDim, q.hidden);
    lin(`${l}self_attn.v_proj.weight`, q.kvHeads * q.headDim, q.hidden);
    lin(`${l}self_attn.o_proj.weight`, q.hidden, q.heads * q.headDim);
    lin(`${l}mlp.gate_proj.weight`, q.intermediate, q.hidden);
    lin(`${l}mlp.up_proj.weight`, q.intermediate, q.hidden);
    lin(`${l}mlp.down_proj.weight`, q.hidden, q.intermediate);
  }
  t.set(`${p}norm.weight`, bf16(q.hidden));
  t.set("lm_head.weight", bf16(q.vocab, q.hidden));
  // A little of the vision tower: present in the files, never read.
  t.set("model.visual.patch_embed.proj.weight", bf16(1152, 3, 2, 16, 16));
  lin("model.visual.blocks.0.attn.qkv.weight", 3456, 1152);
  t.set("model.visual.blocks.0.attn.qkv.bias", bf16(3456));
  return t;
}

export function textEncoderConfig(format: SparseFormat): Record<string, unknown> {
  const q = QWEN3_VL_8B;
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
      rope_scaling: { rope_type: "default", mrope_section: [24, 20, 20], mrope_interleaved: true },
      vocab_size: q.vocab,
      attention_bias: false,
      hidden_act: "silu",
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
  } else {
    config.ideogram_fp8_weight_only = true;
  }
  return config;
}

/** One Ideogram 4 DiT at the released sizes (spec §4); every Linear in `format`. */
export function ditTensors(format: SparseFormat): SparseTensors {
  const c = IDEOGRAM4_DIT, t: SparseTensors = new Map();
  const lin = (name: string, out: number, inF: number) =>
    linearTensors(t, `${name}.weight`, out, inF, format);
  const affine = (name: string, out: number, inF: number) => {
    lin(name, out, inF);
    t.set(`${name}.bias`, bf16(out));
  };
  for (const x of ditTensorLayout(c)) {
    if (x.kind === "linear") (x.bias ? affine : lin)(x.module, x.out, x.in);
    else if (x.kind === "norm") t.set(x.name, bf16(x.n));
    else t.set(x.name, bf16(...x.shape));
  }
  return t;
}

/** The Flux2 KL autoencoder in diffusers names: the whole decoder and a little of the encoder. */
export function vaeTensors(): SparseTensors {
  const c = FLUX2_VAE_DECODER, t: SparseTensors = new Map();
  const conv = (name: string, cout: number, cin: number, k: number) => {
    t.set(`${name}.weight`, bf16(cout, cin, k, k));
    t.set(`${name}.bias`, bf16(cout));
  };
  const norm = (name: string, ch: number) => {
    t.set(`${name}.weight`, bf16(ch));
    t.set(`${name}.bias`, bf16(ch));
  };
  const resnet = (name: string, cin: number, cout: number) => {
    norm(`${name}.norm1`, cin);
    conv(`${name}.conv1`, cout, cin, 3);
    norm(`${name}.norm2`, cout);
    conv(`${name}.conv2`, cout, cout, 3);
    if (cin !== cout) conv(`${name}.conv_shortcut`, cout, cin, 1);
  };
  const z = c.latentChannels, mid = vaeMidChannels(c);
  conv("encoder.conv_in", c.blockOutChannels[0], 3, 3);
  conv("quant_conv", 2 * z, 2 * z, 1);
  conv("post_quant_conv", z, z, 1);
  conv("decoder.conv_in", mid, z, 3);
  resnet("decoder.mid_block.resnets.0", mid, mid);
  resnet("decoder.mid_block.resnets.1", mid, mid);
  const a = "decoder.mid_block.attentions.0";
  norm(`${a}.group_norm`, mid);
  for (const proj of ["to_q", "to_k", "to_v", "to_out.0"]) {
    t.set(`${a}.${proj}.weight`, bf16(mid, mid));
    t.set(`${a}.${proj}.bias`, bf16(mid));
  }
  for (const b of vaeUpBlocks(c)) {
    b.resnets.forEach((r, j) => resnet(`decoder.up_blocks.${b.index}.resnets.${j}`, r.cin, r.cout));
    const ch = b.resnets[b.resnets.length - 1].cout;
    if (b.upsample) conv(`decoder.up_blocks.${b.index}.upsamplers.0.conv`, ch, ch, 3);
  }
  norm("decoder.conv_norm_out", c.blockOutChannels[0]);
  conv("decoder.conv_out", c.outChannels, c.blockOutChannels[0], 3);
  return t;
}

export function vaeConfig(): Record<string, unknown> {
  const c = FLUX2_VAE_DECODER;
  return {
    _class_name: "AutoencoderKLFlux2",
    in_channels: 3,
    out_channels: c.outChannels,
    latent_channels: c.latentChannels,
    block_out_channels: [...c.blockOutChannels],
    layers_per_block: c.layersPerBlock,
    norm_num_groups: c.normGroups,
    act_fn: "silu",
    up_block_types: c.blockOutChannels.map(() => "UpDecoderBlock2D"),
    mid_block_add_attention: true,
    use_quant_conv: true,
    use_post_quant_conv: true,
  };
}

/**
 * Writes one safetensors file at `path` whose data region is a hole except
 * for the tensors that carry `data`; returns the file's size. Tensors are laid
 * out back to back: small ones with data first (F32) and last (U8 JSON), so
 * the few bytes written sit in two runs; the rest widest element first.
 */
export async function writeSparseSafetensors(
  path: string,
  tensors: SparseTensors,
): Promise<number> {
  const entries = [...tensors.entries()];
  const width = (e: [string, SparseTensor]) => ITEM_BYTES[e[1].dtype];
  const head = entries.filter(([, x]) => x.data && ITEM_BYTES[x.dtype] >= 4);
  const tail = entries.filter(([, x]) => x.data && ITEM_BYTES[x.dtype] < 4);
  const holes = entries.filter(([, x]) => !x.data).sort((a, b) => width(b) - width(a));
  const header: Record<string, unknown> = {};
  const writes: { offset: number; data: Uint8Array }[] = [];
  let offset = 0;
  for (const [name, x] of [...head, ...holes, ...tail]) {
    const size = numelOf(x.shape) * ITEM_BYTES[x.dtype];
    if (x.data && x.data.byteLength !== size) {
      throw new Error(`sparse tensor '${name}': ${x.data.byteLength} bytes for ${size}`);
    }
    header[name] = { dtype: x.dtype, shape: x.shape, data_offsets: [offset, offset + size] };
    if (x.data) writes.push({ offset, data: x.data });
    offset += size;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLen = Math.ceil(json.byteLength / 8) * 8;
  const prefix = new Uint8Array(8 + headerLen).fill(0x20);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(headerLen), true);
  prefix.set(json, 8);
  const total = 8 + headerLen + offset;
  using file = await Deno.open(path, { write: true, create: true, truncate: true });
  await file.truncate(total); // the whole file a hole first: nothing below is allocated
  await writeAt(file, 0, prefix);
  for (const w of writes) await writeAt(file, 8 + headerLen + w.offset, w.data);
  return total;
}

async function writeAt(file: Deno.FsFile, offset: number, data: Uint8Array): Promise<void> {
  await file.seek(offset, Deno.SeekMode.Start);
  let done = 0;
  while (done < data.byteLength) done += await file.write(data.subarray(done));
}

/** Splits `tensors` into `count` shards of whole tensors (in order) plus the index. */
async function writeSharded(
  dir: string,
  stem: string,
  tensors: SparseTensors,
  count: number,
): Promise<void> {
  const entries = [...tensors.entries()];
  const per = Math.ceil(entries.length / count);
  const weightMap: Record<string, string> = {};
  let total = 0;
  for (let k = 0; k < count; k++) {
    const file = `${stem}-${String(k + 1).padStart(5, "0")}-of-${
      String(count).padStart(5, "0")
    }.safetensors`;
    const part: SparseTensors = new Map(entries.slice(k * per, (k + 1) * per));
    for (const name of part.keys()) weightMap[name] = file;
    total += await writeSparseSafetensors(`${dir}/${file}`, part);
  }
  await Deno.writeTextFile(
    `${dir}/${stem}.safetensors.index.json`,
    JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2),
  );
}

export interface SparseCheckpointOptions {
  format: SparseFormat;
  /** Which components to write (default all four). */
  components?: readonly SparseComponent[];
  /** Changes a component's tensors before they are written (broken-checkpoint tests). */
  edit?: (component: SparseComponent, tensors: SparseTensors) => void;
  /** A folder whose `tokenizer/` files are copied (default: none written). */
  tokenizerFrom?: string;
}

const ALL: readonly SparseComponent[] = [
  "text_encoder",
  "transformer",
  "unconditional_transformer",
  "vae",
];

/** Writes the checkpoint folder `dir` (created) in the published layout. */
export async function writeSparseCheckpoint(
  dir: string,
  opts: SparseCheckpointOptions,
): Promise<void> {
  const edit = opts.edit ?? (() => {});
  const json = (o: unknown) => JSON.stringify(o, null, 2) + "\n";
  for (const component of opts.components ?? ALL) {
    const folder = `${dir}/${component}`;
    await Deno.mkdir(folder, { recursive: true });
    if (component === "text_encoder") {
      const t = textEncoderTensors(opts.format);
      edit(component, t);
      await Deno.writeTextFile(`${folder}/config.json`, json(textEncoderConfig(opts.format)));
      await writeSharded(folder, "model", t, 2);
    } else if (component === "vae") {
      const t = vaeTensors();
      edit(component, t);
      await Deno.writeTextFile(`${folder}/config.json`, json(vaeConfig()));
      await writeSparseSafetensors(`${folder}/diffusion_pytorch_model.safetensors`, t);
    } else {
      const t = ditTensors(opts.format);
      edit(component, t);
      await Deno.writeTextFile(`${folder}/config.json`, json(ditConfigJson(IDEOGRAM4_DIT)));
      if (component === "transformer") await writeSharded(folder, "diffusion_pytorch_model", t, 2);
      else await writeSparseSafetensors(`${folder}/diffusion_pytorch_model.safetensors`, t);
    }
  }
  if (opts.tokenizerFrom) {
    await Deno.mkdir(`${dir}/tokenizer`, { recursive: true });
    for await (const e of Deno.readDir(`${opts.tokenizerFrom}/tokenizer`)) {
      if (e.isFile) {
        await Deno.copyFile(
          `${opts.tokenizerFrom}/tokenizer/${e.name}`,
          `${dir}/tokenizer/${e.name}`,
        );
      }
    }
  }
}

/** Disk blocks `du` counts under `path`, in bytes. */
export async function diskUsage(path: string): Promise<number> {
  const out = await new Deno.Command("du", { args: ["-sk", path] }).output();
  if (!out.success) throw new Error(`du -sk ${path}: ${new TextDecoder().decode(out.stderr)}`);
  return 1024 * Number(new TextDecoder().decode(out.stdout).split(/\s/)[0]);
}

/** Apparent size (sum of file lengths) under `path`. */
export async function apparentSize(path: string): Promise<number> {
  let n = 0;
  for await (const e of Deno.readDir(path)) {
    const p = `${path}/${e.name}`;
    n += e.isDirectory ? await apparentSize(p) : (await Deno.stat(p)).size;
  }
  return n;
}

/**
 * Whether files in `dir` can have holes: a 64 MiB truncated file must use
 * under 1 MiB. Tests skip the real-size files where it cannot (they would
 * write tens of GB).
 */
export async function supportsSparseFiles(dir: string): Promise<boolean> {
  const probe = `${dir}/.sparse_probe`;
  try {
    using f = await Deno.open(probe, { write: true, create: true, truncate: true });
    await f.truncate(64 * 2 ** 20);
    return (await diskUsage(probe)) < 2 ** 20;
  } finally {
    await Deno.remove(probe).catch(() => {});
  }
}

/** Runs `fn` in a fresh temp folder that is removed afterwards. */
export async function withSparseDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ideogram4_sparse_" });
  try {
    if (!await supportsSparseFiles(dir)) {
      throw new Error(`${dir}: this file system does not keep holes in files; cannot test`);
    }
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
