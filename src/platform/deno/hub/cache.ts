/**
 * One repository in the standard Hugging Face hub cache, the layout the
 * Python `huggingface_hub` library reads and writes, so both share downloads:
 *
 *     <cache>/models--ORG--NAME/
 *       blobs/<sha256 for LFS files, git blob id otherwise>   file contents
 *       blobs/<name>.incomplete                               a download in progress
 *       snapshots/<commit sha>/<repo path>  → ../../blobs/<name> (relative symlink)
 *       refs/<revision>                     the commit sha the revision pointed to
 *     <cache>/.locks/models--ORG--NAME/<name>.lock             one writer per blob
 *
 * Deno-only (file system, symlinks, file locks): not part of the browser core.
 */
import { statfs } from "node:fs/promises";
import { join } from "node:path";
import type { Platform } from "../../types.ts";
import {
  type IndexShards,
  indexShards,
  isIndexFile,
  missingForPipeline,
  PIPELINE_FOLDERS,
} from "./select.ts";

/** A full 40-hex-digit git commit id. */
export function isCommitSha(s: string): boolean {
  return /^[0-9a-f]{40}$/.test(s);
}

/** `org/name` → `models--org--name`. */
export function repoFolderName(repo: string): string {
  return `models--${repo.replaceAll("/", "--")}`;
}

export class RepoCache {
  /** `<cache>/models--ORG--NAME`. */
  readonly root: string;

  /** `p` reads the refs and index files (the Deno platform: its messages name the file). */
  constructor(readonly cacheDir: string, readonly repo: string, private readonly p: Platform) {
    this.root = join(cacheDir, repoFolderName(repo));
  }

  /** `<root>/blobs`. */
  get blobsDir(): string {
    return join(this.root, "blobs");
  }

  blobPath(name: string): string {
    return join(this.root, "blobs", name);
  }

  snapshotDir(sha: string): string {
    return join(this.root, "snapshots", sha);
  }

  lockPath(name: string): string {
    return join(this.cacheDir, ".locks", repoFolderName(this.repo), `${name}.lock`);
  }

  /** The commit a revision pointed to when last downloaded, or undefined. */
  async readRef(revision: string): Promise<string | undefined> {
    const p = this.p;
    const path = join(this.root, "refs", revision);
    if (!await p.exists(path)) return undefined;
    const sha = (await p.readText(path)).trim();
    return isCommitSha(sha) ? sha : undefined;
  }

  /** Writes the ref under a unique temporary name, renamed into place (concurrent writers). */
  async writeRef(revision: string, sha: string): Promise<void> {
    const path = join(this.root, "refs", revision);
    await Deno.mkdir(join(path, ".."), { recursive: true });
    const temp = `${path}.${crypto.randomUUID().slice(0, 8)}.writing`;
    try {
      await Deno.writeTextFile(temp, sha);
      await Deno.rename(temp, path);
    } catch (e) {
      await Deno.remove(temp).catch(() => {});
      throw e;
    }
  }

  /** Commit shas that have a snapshot folder. */
  async snapshotShas(): Promise<string[]> {
    const out: string[] = [];
    try {
      for await (const e of Deno.readDir(join(this.root, "snapshots"))) {
        if (e.isDirectory && isCommitSha(e.name)) out.push(e.name);
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    return out.sort();
  }

  /**
   * Repo paths under the component folders of snapshot `sha` whose content is
   * there (a symlink counts only when its blob exists).
   */
  async snapshotFiles(sha: string): Promise<Set<string>> {
    const out = new Set<string>();
    const walk = async (dir: string, rel: string): Promise<void> => {
      let entries: Deno.DirEntry[];
      try {
        entries = await Array.fromAsync(Deno.readDir(dir));
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) return;
        throw e;
      }
      for (const e of entries) {
        const path = join(dir, e.name), repoPath = `${rel}/${e.name}`;
        if (e.isDirectory) await walk(path, repoPath);
        else if (await isFile(path)) out.add(repoPath);
      }
    };
    for (const folder of PIPELINE_FOLDERS) await walk(join(this.snapshotDir(sha), folder), folder);
    return out;
  }

  /**
   * What snapshot `sha` lacks to run the pipeline: empty when complete,
   * undefined when there is no snapshot of it at all.
   */
  async missing(sha: string): Promise<string[] | undefined> {
    const files = await this.snapshotFiles(sha);
    if (files.size === 0) return undefined;
    return missingForPipeline(files, await this.readIndexes(sha, files));
  }

  /** The sharded indexes among `files` of snapshot `sha`, parsed. */
  async readIndexes(sha: string, files: Iterable<string>): Promise<Map<string, IndexShards>> {
    const p = this.p;
    const out = new Map<string, IndexShards>();
    for (const path of files) {
      if (!isIndexFile(path)) continue;
      out.set(path, indexShards(path, await p.readText(join(this.snapshotDir(sha), path))));
    }
    return out;
  }

  /**
   * Points `snapshots/<sha>/<path>` at `blobs/<name>` with a relative symlink
   * (the cache folder can move). Where symlinks are refused (Windows without
   * developer mode) the blob is copied instead. The link is made under a
   * unique temporary name and renamed into place, so two processes (or two
   * downloads in one) linking the same file at once both succeed: the last
   * rename wins, and both point at the same blob.
   */
  async link(sha: string, path: string, blobName: string): Promise<void> {
    const target = join(this.snapshotDir(sha), ...path.split("/"));
    await Deno.mkdir(join(target, ".."), { recursive: true });
    // Up out of the path's own folders, then out of snapshots/<sha>/.
    const ups = Array(path.split("/").length + 1).fill("..");
    const relative = [...ups, "blobs", blobName].join("/");
    const temp = `${target}.${crypto.randomUUID().slice(0, 8)}.linking`;
    try {
      try {
        await Deno.symlink(relative, temp);
      } catch (e) {
        if (e instanceof Deno.errors.AlreadyExists) throw e;
        await Deno.copyFile(this.blobPath(blobName), temp); // no symlinks here
      }
      await Deno.rename(temp, target);
    } catch (e) {
      await Deno.remove(temp).catch(() => {});
      throw e;
    }
  }
}

/** Whether `path` is a file, following symlinks (a dangling link is not). */
export async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

/** Size of a file, or 0 where there is none. */
export async function fileSize(path: string): Promise<number> {
  try {
    return (await Deno.stat(path)).size;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return 0;
    throw e;
  }
}

export async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

/**
 * Bytes free for an unprivileged writer on the disk holding `dir` (or its
 * nearest existing parent), or undefined where the host cannot tell.
 * `Deno.statfs` does not exist; Deno's `node:fs` statfs does.
 */
export async function diskFreeBytes(dir: string): Promise<number | undefined> {
  let at = dir;
  for (let i = 0; i < 64; i++) {
    try {
      const s = await statfs(at);
      return Number(s.bavail) * Number(s.bsize);
    } catch (e) {
      const parent = join(at, "..");
      if ((e as { code?: string }).code !== "ENOENT" || parent === at) return undefined;
      at = parent;
    }
  }
  return undefined;
}

/**
 * Runs `fn` holding an exclusive lock on `path` (created as needed), so two
 * processes never write the same blob at once. Same lock files as
 * `huggingface_hub` (flock on Unix).
 */
export async function withFileLock<T>(path: string, fn: () => Promise<T>): Promise<T> {
  await Deno.mkdir(join(path, ".."), { recursive: true });
  const file = await Deno.open(path, { create: true, write: true });
  try {
    await file.lock(true);
    return await fn();
  } finally {
    file.close(); // closing releases the lock
  }
}
