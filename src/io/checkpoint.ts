/**
 * One component's weights (`transformer/`, `text_encoder/`, `vae/` …) as a
 * single set of named tensors, whatever the files look like on disk:
 *
 * - `<stem>.safetensors.index.json` (`{"weight_map": {tensor: shard}}`,
 *   shards relative to the index's folder), or
 * - one `<stem>.safetensors`, or
 * - whatever `*.safetensors` the folder holds when the stem differs.
 *
 * A name filter hides tensors nobody may load (by default the Qwen3-VL vision
 * tower, `visual.*` / `model.visual.*`); shards holding only hidden tensors
 * are never opened. Every shard's header is checked against the index on open.
 */
import { platform as currentPlatform } from "../platform/mod.ts";
import type { Platform } from "../platform/types.ts";
import { SafetensorsFile } from "./safetensors.ts";
import { missingTensor, type TensorInfo, type TensorStore } from "./tensor_store.ts";

export interface CheckpointOptions {
  /** File stem to look for first, e.g. `"diffusion_pytorch_model"` or `"model"`. */
  stem?: string;
  /** Default: the registered platform. */
  platform?: Platform;
  /** Which tensor names exist for callers. Default: {@link notVisionTower}. */
  include?: (name: string) => boolean;
}

/** The default filter: everything except Qwen3-VL's vision tower. */
export function notVisionTower(name: string): boolean {
  return !/^(model\.)?visual\./.test(name);
}

const INDEX_SUFFIX = ".safetensors.index.json";
const FILE_SUFFIX = ".safetensors";

/**
 * A (possibly sharded) safetensors checkpoint as one {@link TensorStore}: a folder's
 * `*.safetensors.index.json` and its shards, or a single file.
 *
 * @example List the tensors of a component
 * ```ts
 * import { Checkpoint } from "@ideogram4/webgpu";
 *
 * const ckpt = await Checkpoint.open("/models/ideogram-4-nf4/vae");
 * for (const name of ckpt.names()) console.log(name, ckpt.info(name).shape);
 * ckpt.close();
 * ```
 */
export class Checkpoint implements TensorStore {
  /** Use {@link Checkpoint.open} or {@link Checkpoint.fromFiles}. */
  constructor(
    /** The folder (or file) it was opened from, for error messages. */
    readonly name: string,
    /** The opened files, in the order found. */
    readonly files: readonly SafetensorsFile[],
    /** Visible tensor → the file holding it. */
    private readonly where: Map<string, SafetensorsFile>,
    private readonly include: (name: string) => boolean,
  ) {}

  /**
   * Opens the weights in folder `dir` (or `dir` itself when it names a
   * `.safetensors` file or an index).
   */
  static async open(dir: string, options: CheckpointOptions = {}): Promise<Checkpoint> {
    const p = options.platform ?? currentPlatform();
    const include = options.include ?? notVisionTower;
    if (dir.endsWith(INDEX_SUFFIX) && await p.exists(dir)) {
      return await openIndexed(p, dir, parentOf(dir), include);
    }
    if (dir.endsWith(FILE_SUFFIX) && await p.exists(dir)) {
      return await openFiles(p, dir, [dir], include);
    }
    if (options.stem) {
      const index = p.join(dir, options.stem + INDEX_SUFFIX);
      if (await p.exists(index)) return await openIndexed(p, index, dir, include);
      const single = p.join(dir, options.stem + FILE_SUFFIX);
      if (await p.exists(single)) return await openFiles(p, dir, [single], include);
    }
    const listed = await p.list(dir);
    const indexes = listed.filter((f) => f.endsWith(INDEX_SUFFIX));
    if (indexes.length > 1) {
      throw new Error(
        `${dir}: several weight indexes (${indexes.join(", ")}); pass the stem to choose one`,
      );
    }
    if (indexes.length === 1) return await openIndexed(p, p.join(dir, indexes[0]), dir, include);
    const weights = listed.filter((f) => f.endsWith(FILE_SUFFIX));
    if (weights.length === 0) {
      const looked = options.stem
        ? `${options.stem}${INDEX_SUFFIX}, ${options.stem}${FILE_SUFFIX}, `
        : "";
      throw new Error(
        `${dir}: no weights found (looked for ${looked}*${INDEX_SUFFIX}, *${FILE_SUFFIX})`,
      );
    }
    return await openFiles(p, dir, weights.map((f) => p.join(dir, f)), include);
  }

  /** A checkpoint over files already open (in-memory test models, an embedded model). */
  static fromFiles(
    name: string,
    files: SafetensorsFile[],
    include: (name: string) => boolean = notVisionTower,
  ): Checkpoint {
    return new Checkpoint(name, files, unionOf(name, files, include), include);
  }

  /** Visible tensor names (the filter applied), in file order. */
  names(): string[] {
    return [...this.where.keys()];
  }

  /** Whether a tensor of that name exists (and passes the include filter). */
  has(name: string): boolean {
    return this.where.has(name);
  }

  info(name: string): TensorInfo {
    const file = this.where.get(name);
    if (!file) {
      if (!this.include(name)) {
        throw new Error(`${this.name}: tensor '${name}' is hidden by the checkpoint's name filter`);
      }
      throw missingTensor(this.name, name, this.names());
    }
    return file.info(name);
  }

  bytes(name: string): Promise<Uint8Array> {
    try {
      this.info(name);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.where.get(name)!.bytes(name);
  }

  async f32(name: string): Promise<Float32Array> {
    this.info(name);
    return await this.where.get(name)!.f32(name);
  }

  /** Closes every shard. */
  close(): void {
    for (const f of this.files) f.close();
  }
}

/** Folder part of a path or URL (`a/b/c.json` → `a/b`; `c.json` → `.`). */
function parentOf(path: string): string {
  const cut = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  return cut < 0 ? "." : cut === 0 ? path.slice(0, 1) : path.slice(0, cut);
}

async function openSafetensors(p: Platform, path: string): Promise<SafetensorsFile> {
  const source = await p.open(path);
  try {
    return await SafetensorsFile.open(source);
  } catch (e) {
    source.close();
    throw e;
  }
}

/** Name → file over all visible tensors; a name in two files is an error. */
function unionOf(
  name: string,
  files: readonly SafetensorsFile[],
  include: (name: string) => boolean,
): Map<string, SafetensorsFile> {
  const where = new Map<string, SafetensorsFile>();
  for (const f of files) {
    for (const t of f.names()) {
      if (!include(t)) continue;
      const other = where.get(t);
      if (other) throw new Error(`${name}: tensor '${t}' is in both ${other.name} and ${f.name}`);
      where.set(t, f);
    }
  }
  return where;
}

async function openFiles(
  p: Platform,
  name: string,
  paths: string[],
  include: (name: string) => boolean,
): Promise<Checkpoint> {
  const files: SafetensorsFile[] = [];
  try {
    for (const path of paths) files.push(await openSafetensors(p, path));
    return Checkpoint.fromFiles(name, files, include);
  } catch (e) {
    for (const f of files) f.close();
    throw e;
  }
}

async function openIndexed(
  p: Platform,
  indexPath: string,
  dir: string,
  include: (name: string) => boolean,
): Promise<Checkpoint> {
  const weightMap = parseIndex(indexPath, await p.readText(indexPath));
  // Shard → the visible tensors the index puts there; shards with none are skipped.
  const byShard = new Map<string, string[]>();
  for (const [tensor, shard] of Object.entries(weightMap)) {
    if (!include(tensor)) continue;
    const list = byShard.get(shard);
    if (list) list.push(tensor);
    else byShard.set(shard, [tensor]);
  }
  const files: SafetensorsFile[] = [];
  const where = new Map<string, SafetensorsFile>();
  try {
    for (const [shard, tensors] of byShard) {
      const path = p.join(dir, shard);
      if (!await p.exists(path)) {
        throw new Error(
          `${indexPath}: shard ${shard} (holding ${tensors.length} tensors, e.g. ` +
            `'${tensors[0]}') does not exist at ${path}`,
        );
      }
      const file = await openSafetensors(p, path);
      files.push(file);
      for (const t of tensors) {
        if (!file.has(t)) {
          throw new Error(
            `${indexPath}: maps tensor '${t}' to ${shard}, but ${path} has no such tensor`,
          );
        }
        where.set(t, file);
      }
    }
  } catch (e) {
    for (const f of files) f.close();
    throw e;
  }
  return new Checkpoint(indexPath, files, where, include);
}

function parseIndex(indexPath: string, text: string): Record<string, string> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`${indexPath}: not valid JSON (${e instanceof Error ? e.message : e})`);
  }
  const map = (json as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== "object" || map === null || Array.isArray(map)) {
    throw new Error(`${indexPath}: no "weight_map" object`);
  }
  for (const [tensor, shard] of Object.entries(map)) {
    if (typeof shard !== "string" || shard === "") {
      throw new Error(`${indexPath}: weight_map entry '${tensor}' is not a file name`);
    }
  }
  return map as Record<string, string>;
}
