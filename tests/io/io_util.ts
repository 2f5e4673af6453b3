/**
 * Helpers for the I/O tests: temp folders that clean up after themselves, the
 * two Deno platforms (mmap and plain reads), and hand-made safetensors files
 * for the error paths a correct writer can never produce, a tensor store
 * that records what a loader reads, and folder listings.
 */
import type { TensorStore } from "../../src/io/tensor_store.ts";
import { denoPlatform } from "../../src/platform/deno.ts";

/** Runs `fn` in a fresh temp folder and removes it afterwards. */
export async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ideogram4_io_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Deno platform that maps files (needs --allow-ffi) and one that never does. */
export const mmapPlatform = denoPlatform();
export const readPlatform = denoPlatform({ mmap: false });
export const DENO_PLATFORMS = [mmapPlatform, readPlatform] as const;

/** A safetensors file from a raw header object (anything JSON) and `dataLen` data bytes. */
export function rawSafetensors(
  header: unknown,
  dataLen: number,
  fill = 7,
): Uint8Array<ArrayBuffer> {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + dataLen).fill(fill, 8 + json.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

/** Random bytes from a seeded generator. */
export function randomBytes(n: number, seed: number): Uint8Array<ArrayBuffer> {
  let a = seed >>> 0;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    out[i] = a >>> 24;
  }
  return out;
}

/** `store`, adding to `seen` the name of every tensor whose info or data is asked for. */
export function recording(store: TensorStore, seen: Set<string>): TensorStore {
  return {
    name: store.name,
    names: () => store.names(),
    has: (n) => store.has(n),
    info: (n) => (seen.add(n), store.info(n)),
    bytes: (n) => (seen.add(n), store.bytes(n)),
    f32: (n) => (seen.add(n), store.f32(n)),
    close: () => store.close(),
  };
}

/** Whether anything (a dangling link too) is at `path`. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** Sorted names in `dir` (a failed run must leave nothing, not even a temp file). */
export async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}
