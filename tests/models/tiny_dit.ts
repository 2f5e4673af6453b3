/**
 * Test side of the tiny random DiT checkpoint (built in src/tiny/dit.ts):
 * writes it into a folder, single file or sharded.
 */
import { writeSafetensors, writeShardedSafetensors } from "../../src/io/safetensors_writer.ts";
import { withTempDir } from "../io/io_util.ts";
import { tinyDitConfigJson, type TinyDitOptions, tinyDitTensors } from "../../src/tiny/dit.ts";

export * from "../../src/tiny/dit.ts";

/**
 * Writes a tiny DiT folder into `dir` (e.g. `<root>/transformer`, created if
 * missing): `config.json` and the weights, single file or sharded.
 */
export async function writeTinyDit(dir: string, opts: TinyDitOptions): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const config = tinyDitConfigJson(opts);
  if (config) await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config, null, 2));
  const tensors = tinyDitTensors(opts);
  const stem = "diffusion_pytorch_model";
  if (opts.sharded) {
    const shards = opts.sharded === true ? 3 : opts.sharded;
    for (const [name, bytes] of writeShardedSafetensors(tensors, { stem, shards })) {
      await Deno.writeFile(`${dir}/${name}`, bytes);
    }
  } else {
    await Deno.writeFile(`${dir}/${stem}.safetensors`, writeSafetensors(tensors));
  }
}

/**
 * Writes a tiny DiT into `<temp>/transformer`, runs `fn` with that folder,
 * then removes the temp folder.
 */
export async function withTinyDit(
  opts: TinyDitOptions,
  fn: (dir: string) => Promise<void>,
): Promise<void> {
  await withTempDir(async (root) => {
    const dir = `${root}/transformer`;
    await writeTinyDit(dir, opts);
    await fn(dir);
  });
}
