/**
 * The {@link Platform} for Deno. Weight files are memory-mapped through libc
 * (`open` + `mmap` over FFI) so a 10 GB shard costs no copy and no heap: reads
 * are views over the mapping and the kernel pages bytes in on first touch.
 * Without FFI (no `--allow-ffi`, no libc, Windows) or with
 * `IDEOGRAM4_NO_MMAP=1`, files are read with `Deno.open` + seek + read instead.
 *
 * Importing this module registers nothing: entry points call
 * `setPlatform(denoPlatform())`.
 */
import { join as joinPath } from "node:path";
import { checkReadRange, rejectEmpty } from "../io/byte_source.ts";
import type { ByteSource, Platform } from "./types.ts";

export interface DenoPlatformOptions {
  /** `false` never maps files (same as `IDEOGRAM4_NO_MMAP=1`). Default: map when FFI allows. */
  mmap?: boolean;
}

/** Environment switch that forces plain reads instead of mmap. */
export const NO_MMAP_ENV = "IDEOGRAM4_NO_MMAP";

export function denoPlatform(options: DenoPlatformOptions = {}): Platform {
  const env = (name: string) => readEnv(name);
  const wantMmap = () => {
    const off = env(NO_MMAP_ENV);
    return options.mmap !== false && !(off !== undefined && off !== "" && off !== "0");
  };
  return {
    name: "deno",
    async open(path: string): Promise<ByteSource> {
      const size = await fileSize(path);
      rejectEmpty(path, size);
      const lib = wantMmap() ? loadLibc() : null;
      return (lib && mapFile(lib, path, size)) ?? await readSource(path, size);
    },
    async readText(path: string): Promise<string> {
      try {
        return await Deno.readTextFile(path);
      } catch (e) {
        throw fsError(path, e);
      }
    },
    async exists(path: string): Promise<boolean> {
      try {
        return (await Deno.stat(path)).isFile;
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) return false;
        throw fsError(path, e);
      }
    },
    async list(dir: string): Promise<string[]> {
      const names: string[] = [];
      try {
        for await (const entry of Deno.readDir(dir)) {
          if (entry.isFile || (entry.isSymlink && await isFileTarget(joinPath(dir, entry.name)))) {
            names.push(entry.name);
          }
        }
      } catch (e) {
        throw fsError(dir, e);
      }
      return names.sort();
    },
    join: (...parts: string[]) => joinPath(...parts),
    env,
    async writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
      const tmp = partialName(path);
      try {
        await Deno.writeFile(tmp, bytes);
        await Deno.rename(tmp, path);
      } catch (e) {
        await Deno.remove(tmp).catch(() => {});
        throw fsError(path, e);
      }
    },
  };
}

/** Longest file name most file systems take (ext4, XFS, APFS, NTFS: 255 bytes or units). */
const MAX_NAME_BYTES = 255;

/**
 * The temporary sibling `writeFileAtomic` writes first: `NAME.partial-PID-TIME`,
 * with NAME shortened (on a character boundary) when the suffix would push
 * the name past {@link MAX_NAME_BYTES}, so any legal output name works.
 */
export function partialName(path: string): string {
  const slash = path.lastIndexOf("/");
  const dir = path.slice(0, slash + 1), name = path.slice(slash + 1);
  const suffix = `.partial-${Deno.pid}-${Date.now().toString(36)}`;
  const enc = new TextEncoder();
  let stem = name;
  while (enc.encode(stem + suffix).length > MAX_NAME_BYTES) {
    stem = [...stem].slice(0, -1).join("");
  }
  return `${dir}${stem}${suffix}`;
}

/** `Deno.env.get`, or undefined where env access is not granted (never prompts). */
function readEnv(name: string): string | undefined {
  try {
    if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") {
      return undefined;
    }
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

async function isFileTarget(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

/** An error about `path` that says what went wrong in words. */
function fsError(path: string, e: unknown): Error {
  if (e instanceof Deno.errors.NotFound) return new Error(`${path}: no such file or folder`);
  const msg = e instanceof Error ? e.message : String(e);
  return new Error(`${path}: ${msg}`, { cause: e });
}

async function fileSize(path: string): Promise<number> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    throw fsError(path, e);
  }
  if (info.isDirectory) throw new Error(`${path}: is a folder, not a file`);
  if (!info.isFile) {
    throw new Error(`${path}: not a regular file (a device, pipe or socket); give a file`);
  }
  return info.size;
}

// ---------------------------------------------------------------------------
// mmap through libc

const LIBC_NAMES: Partial<Record<typeof Deno.build.os, string>> = {
  linux: "libc.so.6",
  android: "libc.so",
  darwin: "libSystem.B.dylib",
  freebsd: "libc.so.7",
};

const LIBC_SYMBOLS = {
  open: { parameters: ["buffer", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
  munmap: { parameters: ["pointer", "usize"], result: "i32" },
} as const;

type Libc = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>;

// Same values on Linux, macOS and the BSDs.
const O_RDONLY = 0;
const PROT_READ = 1;
const MAP_PRIVATE = 2;
const MAP_FAILED = (1n << 64n) - 1n; // (void*)-1

/** undefined: not tried yet; null: unavailable (no permission, no libc, Windows). */
let libc: Libc | null | undefined;

function loadLibc(): Libc | null {
  if (libc !== undefined) return libc;
  libc = null;
  const name = LIBC_NAMES[Deno.build.os];
  if (!name) return libc;
  try {
    // Query first: asking Deno.dlopen without permission would prompt on a terminal.
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return libc;
    libc = Deno.dlopen(name, LIBC_SYMBOLS);
  } catch {
    libc = null;
  }
  return libc;
}

/**
 * Unmaps a mapping whose ArrayBuffer was collected without `close()`: once the
 * buffer is unreachable no view can touch the memory any more.
 */
const unmapOnCollect = new FinalizationRegistry<
  { lib: Libc; ptr: Deno.PointerObject; size: number }
>(
  ({ lib, ptr, size }) => lib.symbols.munmap(ptr, BigInt(size)),
);

/** Maps the whole file read-only, or returns null so the caller falls back to reads. */
function mapFile(lib: Libc, path: string, size: number): ByteSource | null {
  if (path.includes("\0")) return null;
  const fd = lib.symbols.open(new TextEncoder().encode(path + "\0"), O_RDONLY);
  if (fd < 0) return null; // Deno.open in the fallback gives the real error
  let ptr: Deno.PointerValue;
  try {
    ptr = lib.symbols.mmap(null, BigInt(size), PROT_READ, MAP_PRIVATE, fd, 0n);
  } finally {
    lib.symbols.close(fd); // the mapping keeps the file alive
  }
  if (ptr === null || BigInt(Deno.UnsafePointer.value(ptr)) === MAP_FAILED) return null;
  const mapped = ptr;

  // One ArrayBuffer over the whole mapping; every read is a view into it.
  let buffer: ArrayBuffer | null = Deno.UnsafePointerView.getArrayBuffer(mapped, size);
  const token = {};
  unmapOnCollect.register(buffer, { lib, ptr: mapped, size }, token);

  return {
    name: path,
    size,
    kind: "mmap",
    read(offset: number, length: number): Promise<Uint8Array> {
      if (!buffer) return Promise.reject(new Error(`${path}: read after close`));
      try {
        checkReadRange(path, size, offset, length);
      } catch (e) {
        return Promise.reject(e);
      }
      return Promise.resolve(new Uint8Array(buffer, offset, length));
    },
    close() {
      if (!buffer) return;
      unmapOnCollect.unregister(token);
      // Detach first (transfer moves the backing store, O(1)): views still held
      // elsewhere then read as empty instead of touching unmapped memory.
      buffer.transfer();
      buffer = null;
      lib.symbols.munmap(mapped, BigInt(size));
    },
  };
}

// ---------------------------------------------------------------------------
// plain reads

/** A source that reads with seek + read into a fresh buffer; reads are serialised. */
async function readSource(path: string, size: number): Promise<ByteSource> {
  let file: Deno.FsFile | null;
  try {
    file = await Deno.open(path, { read: true });
  } catch (e) {
    throw fsError(path, e);
  }
  // One handle, one file position: each read waits for the previous one.
  let queue: Promise<unknown> = Promise.resolve();
  return {
    name: path,
    size,
    kind: "read",
    read(offset: number, length: number): Promise<Uint8Array> {
      const job = queue.then(async () => {
        if (!file) throw new Error(`${path}: read after close`);
        checkReadRange(path, size, offset, length);
        const out = new Uint8Array(length);
        await file.seek(offset, Deno.SeekMode.Start);
        for (let done = 0; done < length;) {
          const n = await file.read(out.subarray(done));
          if (n === null) {
            throw new Error(`${path}: file ended at byte ${offset + done} (shrank while open?)`);
          }
          done += n;
        }
        return out;
      });
      queue = job.catch(() => {});
      return job;
    },
    close() {
      file?.close();
      file = null;
    },
  };
}
