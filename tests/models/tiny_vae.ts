/**
 * Test side of the tiny random Flux2-style VAE checkpoint (built in
 * src/tiny/vae.ts): writes it into a folder.
 */
import { type TensorMap, writeSafetensors } from "../../src/io/safetensors_writer.ts";
import { withTempDir } from "../io/io_util.ts";
import { tinyVaeConfig, type TinyVaeOptions, tinyVaeTensors } from "../../src/tiny/vae.ts";

export * from "../../src/tiny/vae.ts";

/** Writes `config.json` and `diffusion_pytorch_model.safetensors` into `dir`. */
export async function writeTinyVae(
  dir: string,
  opts: TinyVaeOptions = {},
  tensors: TensorMap = tinyVaeTensors(opts),
): Promise<void> {
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(tinyVaeConfig(opts), null, 2));
  await Deno.writeFile(`${dir}/diffusion_pytorch_model.safetensors`, writeSafetensors(tensors));
}

/** Writes a tiny VAE into a temp folder, runs `fn` with it, then removes it. */
export async function withTinyVae(
  opts: TinyVaeOptions,
  fn: (dir: string) => Promise<void>,
): Promise<void> {
  await withTempDir(async (dir) => {
    await writeTinyVae(dir, opts);
    await fn(dir);
  });
}
