/**
 * `--output` checked before any work (Deno side): a generation can take
 * hours on the real model, so a path that cannot be written must fail in
 * the first second, not after sampling. Every refusal is the user's input
 * (a {@link UsageError}, exit 2).
 */
import { basename, dirname } from "node:path";
import { UsageError } from "./usage_error.ts";

/** Longest file name (bytes) the common file systems allow (ext4, APFS, NTFS ≈ 255). */
export const MAX_NAME_BYTES = 255;

/**
 * Throws unless `path` names a `.png` file that can be created or replaced:
 * its folder exists and is writable (tested by creating and removing a
 * probe file), the name fits the file system, and it is not a folder.
 */
export async function checkOutputPath(path: string): Promise<void> {
  const fail = (why: string) => new UsageError(`--output ${path}: ${why}`);
  if (!path.toLowerCase().endsWith(".png")) throw fail("the file name must end in .png");
  const name = basename(path);
  const nameBytes = new TextEncoder().encode(name).length;
  if (nameBytes > MAX_NAME_BYTES) {
    throw fail(`the file name is ${nameBytes} bytes; file systems allow ${MAX_NAME_BYTES}`);
  }
  const dir = dirname(path);
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(dir);
  } catch (e) {
    throw fail(
      e instanceof Deno.errors.NotFound
        ? `the folder ${dir} does not exist`
        : `cannot use the folder ${dir}: ${(e as Error).message}`,
    );
  }
  if (!info.isDirectory) throw fail(`${dir} is not a folder`);
  try {
    if ((await Deno.stat(path)).isDirectory) throw fail("is a folder");
  } catch (e) {
    if (e instanceof UsageError) throw e;
    if (!(e instanceof Deno.errors.NotFound)) throw fail((e as Error).message);
  }
  const probe = `${dir}/.ideogram4-probe-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  try {
    (await Deno.open(probe, { write: true, createNew: true })).close();
  } catch (e) {
    throw fail(`the folder ${dir} is not writable (${(e as Error).message})`);
  }
  await Deno.remove(probe).catch(() => {});
}
