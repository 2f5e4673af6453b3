/// <reference lib="dom" />
/**
 * Download once: a checkpoint read from a URL is kept in the browser's Origin
 * Private File System, so the next run reads it from there and the server
 * sends nothing. Runs in the page's worker (synchronous access handles exist
 * only in workers).
 *
 * Layout: `ideogram4-weights/<checkpoint key>/<path inside the checkpoint>`,
 * the key being the checkpoint's URL made a file name. A weight file is
 * first written to `<name>.part` in 8 MiB ranges and renamed when its size
 * matches the server's; a download cut short resumes from the `.part` file's
 * length. Small files (configs, tokenizer) are kept the same way. Nothing
 * here reads a weight file whole into memory.
 *
 * Checks: each file's size against the server's (`Content-Range` total).
 * Checkpoints in the published layout carry no sha256 in their indexes, so
 * no hash is checked.
 */
import { browserPlatform, type ByteSource, type Platform } from "./ideogram4.ts";

/** The OPFS folder this page keeps checkpoints in. */
export const CACHE_FOLDER = "ideogram4-weights";
/** Bytes per range request while downloading. */
const CHUNK_BYTES = 8 * 2 ** 20;
const PART = ".part";

/** One kept checkpoint, for the page's list. */
export interface KeptCheckpoint {
  /** Folder name in OPFS (the checkpoint's URL, escaped). */
  key: string;
  /** The URL it came from. */
  url: string;
  /** Complete files and their bytes. */
  files: number;
  bytes: number;
  /** Bytes of downloads cut short (resumed on the next run). */
  partialBytes: number;
}

/** The checkpoint folder's name for `baseUrl` (reversible: the list shows the URL). */
export function keyOf(baseUrl: string): string {
  return encodeURIComponent(baseUrl);
}

async function cacheRoot(): Promise<FileSystemDirectoryHandle> {
  const root = await navigator.storage.getDirectory();
  return await root.getDirectoryHandle(CACHE_FOLDER, { create: true });
}

/** Every kept checkpoint with its size. */
export async function listKept(): Promise<KeptCheckpoint[]> {
  const root = await cacheRoot();
  const out: KeptCheckpoint[] = [];
  // deno-lint-ignore no-explicit-any
  for await (const [name, handle] of (root as any).entries()) {
    if (handle.kind !== "directory") continue;
    const k = { key: name, url: decodeURIComponent(name), files: 0, bytes: 0, partialBytes: 0 };
    await sizeUnder(handle, k);
    out.push(k);
  }
  return out.sort((a, b) => a.url.localeCompare(b.url));
}

async function sizeUnder(dir: FileSystemDirectoryHandle, k: KeptCheckpoint): Promise<void> {
  // deno-lint-ignore no-explicit-any
  for await (const [name, handle] of (dir as any).entries()) {
    if (handle.kind === "directory") await sizeUnder(handle, k);
    else {
      const size = (await (handle as FileSystemFileHandle).getFile()).size;
      if (name.endsWith(PART)) k.partialBytes += size;
      else {
        k.files++;
        k.bytes += size;
      }
    }
  }
}

/** Deletes a kept checkpoint (all its files, partial ones included). */
export async function deleteKept(key: string): Promise<void> {
  await (await cacheRoot()).removeEntry(key, { recursive: true });
}

/** Minimal typing of the worker-only synchronous access handle. */
interface SyncHandle {
  getSize(): number;
  write(data: Uint8Array, opts: { at: number }): number;
  truncate(size: number): void;
  flush(): void;
  close(): void;
}

/** Options of {@link keptUrlPlatform}. */
export interface KeptOptions {
  fetch?: typeof fetch;
  /** Sees each file's download progress. */
  onDownload?: (path: string, done: number, size: number) => void;
  /**
   * Read files not kept yet from the server in ranges, without keeping them
   * (for checking and planning before anything is downloaded).
   */
  peek?: boolean;
}

/**
 * A platform that reads the checkpoint at `baseUrl` through OPFS: files
 * already kept are read from there; the others are downloaded into it first
 * (resuming a partial download), then read from there, or with `peek` read
 * from the server in ranges.
 */
export async function keptUrlPlatform(baseUrl: string, opts: KeptOptions = {}): Promise<Platform> {
  const remote = browserPlatform({ baseUrl, fetch: opts.fetch });
  const top = await (await cacheRoot()).getDirectoryHandle(keyOf(baseUrl), { create: true });
  const parts = (path: string) => path.split("/").filter((s) => s !== "" && s !== ".");

  async function folderOf(path: string, create: boolean) {
    let dir = top;
    const segs = parts(path);
    for (const s of segs.slice(0, -1)) dir = await dir.getDirectoryHandle(s, { create });
    return { dir, name: segs[segs.length - 1] };
  }

  /** The kept file, or undefined when it is not (completely) kept. */
  async function kept(path: string): Promise<File | undefined> {
    try {
      const { dir, name } = await folderOf(path, false);
      return await (await dir.getFileHandle(name)).getFile();
    } catch {
      return undefined;
    }
  }

  /** Downloads `path` into OPFS in ranges, resuming a `.part`; returns the kept file. */
  async function download(path: string): Promise<File> {
    const src: ByteSource = await remote.open(path);
    try {
      const { dir, name } = await folderOf(path, true);
      const partHandle = await dir.getFileHandle(name + PART, { create: true });
      // deno-lint-ignore no-explicit-any
      const h: SyncHandle = await (partHandle as any).createSyncAccessHandle();
      try {
        let at = h.getSize();
        if (at > src.size) {
          // Longer than the server's file: it changed there; start again.
          h.truncate(0);
          at = 0;
        }
        while (at < src.size) {
          const bytes = await src.read(at, Math.min(CHUNK_BYTES, src.size - at));
          h.write(bytes, { at });
          at += bytes.length;
          opts.onDownload?.(path, at, src.size);
        }
        h.flush();
        if (h.getSize() !== src.size) {
          throw new Error(`${path}: kept ${h.getSize()} bytes, the server has ${src.size}`);
        }
      } finally {
        h.close();
      }
      // deno-lint-ignore no-explicit-any
      await (partHandle as any).move(name);
      return (await kept(path))!;
    } finally {
      src.close();
    }
  }

  const local = (path: string, file: File) => browserPlatform({ files: new Map([[path, file]]) });

  return {
    name: "browser (kept in OPFS)",
    async open(path) {
      const have = await kept(path);
      if (!have && opts.peek) return await remote.open(path);
      return await local(path, have ?? await download(path)).open(path);
    },
    async readText(path) {
      const have = await kept(path);
      if (!have && opts.peek) return await remote.readText(path);
      return await (have ?? await download(path)).text();
    },
    async exists(path) {
      return (await kept(path)) !== undefined || await remote.exists(path);
    },
    list: (dir) => remote.list(dir),
    join: remote.join,
    env: remote.env,
    writeFileAtomic: remote.writeFileAtomic,
  };
}
