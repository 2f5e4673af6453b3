/**
 * Test side of the tiny random Qwen3-VL checkpoint (built in src/tiny/qwen3.ts):
 * writes it into a folder.
 */
import { writeSafetensors } from "../../src/io/safetensors_writer.ts";
import { withTempDir } from "../io/io_util.ts";
import { tinyQwen3Config, type TinyQwen3Options, tinyQwen3Tensors } from "../../src/tiny/qwen3.ts";

export * from "../../src/tiny/qwen3.ts";

/** Writes a tiny checkpoint folder (`config.json`, `model.safetensors`) into `dir`. */
export async function writeTinyQwen3(dir: string, opts: TinyQwen3Options): Promise<void> {
  await Deno.writeTextFile(
    `${dir}/config.json`,
    JSON.stringify(tinyQwen3Config(opts.format, opts.ropeParameters, opts.vocab), null, 2),
  );
  await Deno.writeFile(`${dir}/model.safetensors`, writeSafetensors(tinyQwen3Tensors(opts)));
}

/** Writes a tiny checkpoint into a temp folder, runs `fn` with it, then removes it. */
export async function withTinyQwen3(
  opts: TinyQwen3Options,
  fn: (dir: string) => Promise<void>,
): Promise<void> {
  await withTempDir(async (dir) => {
    await writeTinyQwen3(dir, opts);
    await fn(dir);
  });
}
