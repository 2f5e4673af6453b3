/**
 * The published checkpoint layout (spec §1): its component folders and what
 * each must hold. A fact of the files, so it sits in `src/io/`, below
 * everything that reads it: the pipeline, the checkpoint checks, the Hub
 * client's file selection.
 *
 * Upstream reads `tokenizer/` and `text_encoder/config.json` (transformers
 * needs them) but never the DiTs' or the VAE's `config.json`: it builds
 * their configuration in code. So those folders need only weights, as
 * `<stem>.safetensors.index.json` + shards or one `*.safetensors`; their
 * configuration then comes from the shapes and upstream's constants
 * (`dit_config.ts`, `vae_config.ts`).
 */
import type { Platform } from "../platform/types.ts";

/** The folders of a published checkpoint (spec §1). */
export const COMPONENT_FOLDERS = [
  "tokenizer",
  "text_encoder",
  "transformer",
  "unconditional_transformer",
  "vae",
] as const;

export type ComponentFolder = typeof COMPONENT_FOLDERS[number];

/** The file a component folder must hold besides its weights (undefined: weights alone). */
export function requiredFile(folder: ComponentFolder): string | undefined {
  return folder === "tokenizer"
    ? "tokenizer.json"
    : folder === "text_encoder"
    ? "config.json"
    : undefined;
}

/** The weights' file stem of a model folder (`<stem>.safetensors` or its index). */
export function weightsStem(folder: Exclude<ComponentFolder, "tokenizer">): string {
  return folder === "text_encoder" ? "model" : "diffusion_pytorch_model";
}

/** Whether a file name is weights (`*.safetensors` or a `*.safetensors.index.json`). */
export function isWeightsName(name: string): boolean {
  return name.endsWith(".safetensors") || name.endsWith(".safetensors.index.json");
}

/**
 * What folder `dir` lacks to be a checkpoint, relative to it (empty: nothing):
 * `tokenizer/tokenizer.json`, `text_encoder/config.json`, or
 * `<folder>/*.safetensors` for a model folder without weights.
 */
export async function missingComponentFiles(p: Platform, dir: string): Promise<string[]> {
  const missing: string[] = [];
  for (const folder of COMPONENT_FOLDERS) {
    const file = requiredFile(folder);
    if (file && !await p.exists(p.join(dir, folder, file))) missing.push(`${folder}/${file}`);
    if (folder === "tokenizer") continue;
    if (!await hasWeights(p, p.join(dir, folder), weightsStem(folder))) {
      missing.push(`${folder}/*.safetensors`);
    }
  }
  return missing;
}

/**
 * Whether a model folder holds weights: any `*.safetensors` (or index) in
 * its listing; where the host cannot list (a checkpoint served over HTTP),
 * the file names upstream loads, `<stem>.safetensors.index.json` or
 * `<stem>.safetensors`.
 */
async function hasWeights(p: Platform, folder: string, stem: string): Promise<boolean> {
  try {
    if ((await p.list(folder)).some(isWeightsName)) return true;
  } catch {
    // Not listable (or absent): probe the names below.
  }
  for (const name of [`${stem}.safetensors.index.json`, `${stem}.safetensors`]) {
    if (await p.exists(p.join(folder, name))) return true;
  }
  return false;
}
