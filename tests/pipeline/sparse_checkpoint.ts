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
 * The tensor lists are `src/checkpoint/layout.ts`'s (the random checkpoint
 * writer walks the same lists and fills every byte); they are written out
 * from the spec and the reference checkpoints' conventions, not taken from the
 * loaders, so the checker is tested against an independent description.
 */
import {
  componentLayout,
  type LayoutTensor,
  type LayoutTensors,
  QWEN3_VL_8B,
} from "../../src/checkpoint/layout.ts";
import { RELEASED_DIMS } from "../../src/checkpoint/dims.ts";
import { ITEM_BYTES, numelOf } from "../../src/io/tensor_store.ts";
import { safetensorsPrefix } from "../../src/io/safetensors_writer.ts";

export { QWEN3_VL_8B };
export type SparseFormat = "nf4" | "fp8";
export type SparseComponent = "text_encoder" | "transformer" | "unconditional_transformer" | "vae";
/** One tensor: its header entry and, for the few that need them, real bytes. */
export type SparseTensor = LayoutTensor;
/** Tensors by name (a Map so tests can edit, delete and re-add). */
export type SparseTensors = LayoutTensors;

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
  const prefix = safetensorsPrefix(header);
  const total = prefix.length + offset;
  using file = await Deno.open(path, { write: true, create: true, truncate: true });
  await file.truncate(total); // the whole file a hole first: nothing below is allocated
  await writeAt(file, 0, prefix);
  for (const w of writes) await writeAt(file, prefix.length + w.offset, w.data);
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
    const { tensors: t, config } = componentLayout(component, opts.format, RELEASED_DIMS);
    edit(component, t);
    await Deno.writeTextFile(`${folder}/config.json`, json(config));
    if (component === "text_encoder") await writeSharded(folder, "model", t, 2);
    else if (component === "transformer") {
      await writeSharded(folder, "diffusion_pytorch_model", t, 2);
    } else await writeSparseSafetensors(`${folder}/diffusion_pytorch_model.safetensors`, t);
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
