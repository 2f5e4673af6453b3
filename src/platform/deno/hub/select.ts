/**
 * Which files of a weights repository the pipeline needs, and whether a set
 * of files is enough to run it. Used twice with the same rules: on the Hub's
 * file listing (what to download) and on a cached snapshot (is it complete?).
 *
 * Needed: every file under the five component folders, except safetensors
 * shards that a sharded index maps only vision-tower tensors to (Qwen3-VL's
 * `visual.*`, several GB the runtime never loads) or does not map at all.
 * Top-level files (README, model_index.json …) are not needed.
 */
import { notVisionTower } from "../../../io/checkpoint.ts";
import { COMPONENT_FOLDERS, requiredFile } from "../../../io/model_folders.ts";

/** The component folders of a published checkpoint (spec §1). */
export const PIPELINE_FOLDERS = COMPONENT_FOLDERS;

export const INDEX_SUFFIX = ".safetensors.index.json";
const WEIGHTS_SUFFIX = ".safetensors";

/** Repo path → its component folder, or undefined outside the five. */
function folderOf(path: string): string | undefined {
  const top = path.split("/")[0];
  return path.includes("/") && (PIPELINE_FOLDERS as readonly string[]).includes(top)
    ? top
    : undefined;
}

function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "" : path.slice(0, i);
}

/** Whether a repo path lies inside one of the five component folders. */
export function inPipelineFolder(path: string): boolean {
  return folderOf(path) !== undefined;
}

export function isWeightsFile(path: string): boolean {
  return path.endsWith(WEIGHTS_SUFFIX);
}

export function isIndexFile(path: string): boolean {
  return path.endsWith(INDEX_SUFFIX);
}

/** Shards an index refers to, as repo paths: all of them, and those holding a tensor the runtime loads. */
export interface IndexShards {
  all: Set<string>;
  needed: Set<string>;
}

/** Reads a `*.safetensors.index.json` (`{"weight_map": {tensor: shard}}`, shards relative to the index). */
export function indexShards(indexPath: string, text: string): IndexShards {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new Error(`${indexPath}: not valid JSON (${(e as Error).message})`);
  }
  const map = (parsed as { weight_map?: unknown })?.weight_map;
  if (!map || typeof map !== "object" || Array.isArray(map)) {
    throw new Error(`${indexPath}: no "weight_map" object (expected a safetensors index)`);
  }
  const dir = dirOf(indexPath);
  const all = new Set<string>(), needed = new Set<string>();
  for (const [tensor, shard] of Object.entries(map as Record<string, unknown>)) {
    if (
      typeof shard !== "string" || shard === "" || shard.startsWith("/") || shard.includes("..")
    ) {
      throw new Error(
        `${indexPath}: tensor "${tensor}" maps to a bad shard name ${JSON.stringify(shard)}`,
      );
    }
    const path = dir ? `${dir}/${shard}` : shard;
    all.add(path);
    if (notVisionTower(tensor)) needed.add(path);
  }
  return { all, needed };
}

/**
 * The files to fetch out of `paths` (a repo listing), given the parsed
 * indexes among them (repo path → shards). Sorted: small files first, then
 * weights, so an interrupted download always leaves a weight missing and the
 * snapshot is never mistaken for a complete one.
 */
export function selectFiles(paths: Iterable<string>, indexes: Map<string, IndexShards>): string[] {
  const indexedDirs = new Set([...indexes.keys()].map(dirOf));
  const needed = new Set<string>();
  for (const s of indexes.values()) for (const shard of s.needed) needed.add(shard);
  const out = [...paths].filter((path) => {
    if (!inPipelineFolder(path)) return false;
    // In a sharded folder only shards the index needs: skips the vision tower and stray files.
    if (isWeightsFile(path) && indexedDirs.has(dirOf(path))) return needed.has(path);
    return true;
  });
  const rank = (p: string) => isWeightsFile(p) ? 1 : 0;
  return out.sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * What a set of files lacks to run the pipeline (empty: nothing), in words a
 * person can act on: per folder the file upstream reads besides weights
 * (`tokenizer.json`, `text_encoder/config.json`; see `requiredFile`), and the weights — every needed
 * shard of an index, or at least one `*.safetensors`.
 */
export function missingForPipeline(
  paths: Set<string>,
  indexes: Map<string, IndexShards>,
): string[] {
  const missing: string[] = [];
  for (const folder of PIPELINE_FOLDERS) {
    const file = requiredFile(folder);
    if (file && !paths.has(`${folder}/${file}`)) missing.push(`${folder}/${file}`);
    if (folder === "tokenizer") continue;
    const folderIndexes = [...indexes.entries()].filter(([p]) => folderOf(p) === folder);
    if (folderIndexes.length > 0) {
      for (const [, s] of folderIndexes) {
        for (const shard of [...s.needed].sort()) if (!paths.has(shard)) missing.push(shard);
      }
    } else if (![...paths].some((p) => folderOf(p) === folder && isWeightsFile(p))) {
      missing.push(`${folder}/*.safetensors`);
    }
  }
  return missing;
}
