/**
 * `make-checkpoint`: writes a checkpoint folder in the published layout
 * (`text_encoder/`, `transformer/`, `unconditional_transformer/`, `vae/`,
 * `tokenizer/`) with seeded random weights in nf4 or fp8, every byte written
 * (no file holes). Made for machines that cannot download the released
 * weights (a GPU machine without network): real-size loading, memory, speed
 * and numerics against another implementation on the same files.
 *
 * The folder is written under a temporary sibling name and renamed into place
 * at the end, so a failed run leaves no partial checkpoint; an existing
 * non-empty `--out` is refused. Exit codes: 0 written, 2 bad flags or
 * `--out` exists, 1 anything else (disk full, permissions).
 */
import { parseArgs } from "node:util";
import {
  CHECKPOINT_COMPONENTS,
  CHECKPOINT_FORMATS,
  type CheckpointComponent,
  type CheckpointDims,
  type CheckpointFormat,
  COMPONENT_SHARDS,
  COMPONENT_STEMS,
  componentLayout,
  type LayoutTensors,
} from "../checkpoint/layout.ts";
import { RELEASED_DIMS, SMALL_DIMS } from "../checkpoint/dims.ts";
import { planSafetensors, splitShards, TensorFiller } from "../checkpoint/random.ts";
import { tokenizerFiles } from "../tiny/model.ts";
import { qwen3TokenizerFiles } from "../platform/deno/embedded_model.ts";
import { UsageError } from "./usage_error.ts";

export const MAKE_CHECKPOINT_USAGE = `usage: make-checkpoint --format nf4|fp8|int8 --out DIR [flags]

Writes a checkpoint in the published Ideogram 4 layout with seeded random
weights (released sizes unless --small): nf4 ≈ 15 GB, fp8 ≈ 27 GB, int8 ≈ 27 GB
(int8 is not a released format: symmetric per-row int8, see the README).

  --format nf4|fp8|int8     weight format of the Linears (required)
  --out DIR                 folder to create (must not exist, or be empty)
  --small                   the tiny test dimensions instead (a few MB; runs on any adapter)
  --seed N                  seed of the weights (default 0)
  --components LIST         comma-separated subset of ${CHECKPOINT_COMPONENTS.join(",")}
                            (default all; tokenizer/ is always written)
  -q, --quiet               no progress on stderr
`;

export interface RandomCheckpointOptions {
  format: CheckpointFormat;
  dims: CheckpointDims;
  seed: number;
  components?: readonly CheckpointComponent[];
  onProgress?: (line: string) => void;
}

/** Bytes generated and written per write call. */
const CHUNK = 64 << 20;

/** Writes one safetensors file of random `tensors`; returns its size. */
async function writeRandomSafetensors(
  path: string,
  tensors: LayoutTensors,
  seed: number,
): Promise<number> {
  const plan = planSafetensors(tensors);
  using file = await Deno.open(path, { write: true, createNew: true });
  await writeAll(file, plan.prefix);
  const buf = new Uint8Array(CHUNK);
  for (const e of plan.entries) {
    const filler = new TensorFiller(e.name, e.tensor, seed);
    for (let done = 0; done < e.size; done += CHUNK) {
      const chunk = buf.subarray(0, Math.min(CHUNK, e.size - done));
      filler.fill(chunk);
      await writeAll(file, chunk);
    }
  }
  return plan.size;
}

async function writeAll(file: Deno.FsFile, data: Uint8Array): Promise<void> {
  let done = 0;
  while (done < data.byteLength) done += await file.write(data.subarray(done));
}

/** Writes the checkpoint's files into the existing empty folder `dir`; returns total bytes. */
export async function writeRandomCheckpoint(
  dir: string,
  opts: RandomCheckpointOptions,
): Promise<number> {
  const json = (o: unknown) => JSON.stringify(o, null, 2) + "\n";
  let total = 0;
  for (const component of opts.components ?? CHECKPOINT_COMPONENTS) {
    const t0 = performance.now();
    const folder = `${dir}/${component}`;
    await Deno.mkdir(folder, { recursive: true });
    const { tensors, config } = componentLayout(component, opts.format, opts.dims);
    await Deno.writeTextFile(`${folder}/config.json`, json(config));
    const stem = COMPONENT_STEMS[component], count = COMPONENT_SHARDS[component];
    let bytes = 0;
    if (count === 1) {
      bytes = await writeRandomSafetensors(`${folder}/${stem}.safetensors`, tensors, opts.seed);
    } else {
      const weightMap: Record<string, string> = {};
      const digits = (k: number) => String(k).padStart(5, "0");
      const shards = splitShards(tensors, count);
      for (const [k, shard] of shards.entries()) {
        const file = `${stem}-${digits(k + 1)}-of-${digits(count)}.safetensors`;
        for (const name of shard.keys()) weightMap[name] = file;
        bytes += await writeRandomSafetensors(`${folder}/${file}`, shard, opts.seed);
      }
      await Deno.writeTextFile(
        `${folder}/${stem}.safetensors.index.json`,
        json({ metadata: { total_size: bytes }, weight_map: weightMap }),
      );
    }
    total += bytes;
    const s = (performance.now() - t0) / 1000;
    opts.onProgress?.(
      `${component}: ${(bytes / 1e9).toFixed(2)} GB in ${s.toFixed(1)} s ` +
        `(${(bytes / 1e6 / Math.max(s, 1e-3)).toFixed(0)} MB/s)`,
    );
  }
  for (const [path, bytes] of tokenizerFiles(await qwen3TokenizerFiles())) {
    await Deno.mkdir(`${dir}/${path.slice(0, path.lastIndexOf("/"))}`, { recursive: true });
    await Deno.writeFile(`${dir}/${path}`, bytes);
  }
  await Deno.writeTextFile(
    `${dir}/README.md`,
    "# Random Ideogram 4 checkpoint\n\nWritten by ideogram4-webgpu `cli.ts make-checkpoint` " +
      `(format ${opts.format}, seed ${opts.seed}). The published layout with seeded random ` +
      "weights: for measuring loading, memory, speed and numerics. Not the released model.\n",
  );
  return total;
}

export async function runMakeCheckpoint(args: string[]): Promise<number> {
  let out: string, format: CheckpointFormat, seed: number, small: boolean;
  let components: CheckpointComponent[] | undefined, quiet: boolean;
  try {
    const { values } = parseArgs({
      args,
      options: {
        format: { type: "string" },
        out: { type: "string" },
        small: { type: "boolean", default: false },
        seed: { type: "string", default: "0" },
        components: { type: "string" },
        quiet: { type: "boolean", short: "q", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
    if (values.help) {
      console.log(MAKE_CHECKPOINT_USAGE);
      return 0;
    }
    const formats: readonly string[] = CHECKPOINT_FORMATS;
    if (!values.format || !formats.includes(values.format)) {
      throw new UsageError(
        `--format must be ${CHECKPOINT_FORMATS.join(", ")} (got ${values.format ?? "nothing"})`,
      );
    }
    format = values.format as CheckpointFormat;
    if (!values.out) throw new UsageError("--out DIR is required");
    out = values.out;
    seed = Number(values.seed);
    if (!Number.isSafeInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new UsageError(`--seed must be an integer in 0..4294967295 (got ${values.seed})`);
    }
    small = values.small;
    quiet = values.quiet;
    if (values.components !== undefined) {
      components = values.components.split(",").map((c) => c.trim()) as CheckpointComponent[];
      const bad = components.filter((c) => !CHECKPOINT_COMPONENTS.includes(c));
      if (bad.length > 0 || components.length === 0) {
        throw new UsageError(
          `--components: unknown ${bad.map((b) => `'${b}'`).join(", ")}; ` +
            `choose from ${CHECKPOINT_COMPONENTS.join(",")}`,
        );
      }
    }
    if (await nonEmpty(out)) throw new UsageError(`--out ${out}: exists and is not empty`);
  } catch (e) {
    if (e instanceof UsageError || (e instanceof TypeError && /option|argument/i.test(e.message))) {
      console.error(`make-checkpoint: ${e.message}\n\n${MAKE_CHECKPOINT_USAGE}`);
      return 2;
    }
    throw e;
  }
  const parent = out.includes("/") ? out.slice(0, out.lastIndexOf("/")) || "/" : ".";
  await Deno.mkdir(parent, { recursive: true });
  const tmp = await Deno.makeTempDir({ dir: parent, prefix: ".make-checkpoint-" });
  const t0 = performance.now();
  try {
    const bytes = await writeRandomCheckpoint(tmp, {
      format,
      dims: small ? SMALL_DIMS : RELEASED_DIMS,
      seed,
      components,
      onProgress: quiet ? undefined : (line) => console.error(line),
    });
    await Deno.remove(out).catch(() => {}); // an empty folder given as --out
    await Deno.rename(tmp, out);
    if (!quiet) {
      console.error(
        `wrote ${out}: ${(bytes / 1e9).toFixed(2)} GB of ${format} weights in ` +
          `${((performance.now() - t0) / 1000).toFixed(1)} s`,
      );
    }
    return 0;
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

async function nonEmpty(path: string): Promise<boolean> {
  try {
    const st = await Deno.stat(path);
    if (!st.isDirectory) return true;
    for await (const _ of Deno.readDir(path)) return true;
    return false;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}
