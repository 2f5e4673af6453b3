/**
 * A copy of the embedded tiny model with one weight damaged (a NaN written
 * into its first value), for the tests of the non-finite check. Only the
 * damaged component is copied; the others are symbolic links.
 */
import { Checkpoint } from "../../src/io/checkpoint.ts";
import { COMPONENT_FOLDERS } from "../../src/io/model_folders.ts";
import { readPlatform } from "../io/io_util.ts";

/** NaN bit patterns per safetensors dtype, little-endian. */
const NAN_BYTES: Record<string, number[]> = {
  F32: [0x00, 0x00, 0xc0, 0x7f],
  F16: [0x00, 0x7e],
  BF16: [0xc0, 0x7f],
  F8_E4M3: [0x7f],
};

/**
 * Makes `${dir}/model`: `tiny` with the first tensor of `folder` whose name
 * matches `pick` holding a NaN as its first value. Returns the folder and
 * the tensor's name.
 */
export async function damagedModel(
  tiny: string,
  dir: string,
  folder: string,
  pick: RegExp,
): Promise<{ model: string; tensor: string }> {
  const model = `${dir}/model`;
  await Deno.mkdir(model);
  for (const f of [...COMPONENT_FOLDERS]) {
    if (f === folder) continue;
    await Deno.symlink(`${tiny}/${f}`, `${model}/${f}`);
  }
  await Deno.mkdir(`${model}/${folder}`);
  for await (const e of Deno.readDir(`${tiny}/${folder}`)) {
    await Deno.copyFile(`${tiny}/${folder}/${e.name}`, `${model}/${folder}/${e.name}`);
  }
  const ckpt = await Checkpoint.open(`${model}/${folder}`, { platform: readPlatform });
  const tensor = ckpt.names().find((n) => pick.test(n));
  if (!tensor) throw new Error(`no tensor of ${folder} matches ${pick}`);
  const info = ckpt.info(tensor);
  ckpt.close();
  const nan = NAN_BYTES[info.dtype];
  if (!nan) throw new Error(`${tensor} is ${info.dtype}`);
  const file = await Deno.open(info.file, { write: true });
  await file.seek(info.byteOffset, Deno.SeekMode.Start);
  await file.write(new Uint8Array(nan));
  file.close();
  return { model, tensor };
}
