/**
 * A cheap check of one cached file before a run trusts it: no hashing (the
 * blobs of a real checkpoint are tens of GB), only what sizes and headers
 * tell — an empty file, a safetensors file whose header does not end where
 * its data says, JSON that does not parse. Downloads are hashed; this catches
 * what happened to the cache afterwards (a disk error, a copy cut short, a
 * hand edit). Deno-only.
 */
import { MAX_HEADER_BYTES } from "../../../io/safetensors.ts";

/** What is wrong with `path`, or undefined when nothing cheap to see is. */
export async function checkCachedFile(path: string): Promise<string | undefined> {
  const size = (await Deno.stat(path)).size;
  if (size === 0) return "it is empty";
  if (path.endsWith(".json")) {
    try {
      JSON.parse(await Deno.readTextFile(path));
    } catch (e) {
      return `not valid JSON: ${(e as Error).message}`;
    }
    return undefined;
  }
  if (path.endsWith(".safetensors")) return await checkSafetensors(path, size);
  return undefined;
}

async function checkSafetensors(path: string, size: number): Promise<string | undefined> {
  using f = await Deno.open(path, { read: true });
  const head = new Uint8Array(8);
  if (size < 8 || await readFull(f, head) < 8) return `${size} bytes: too short for safetensors`;
  const n = Number(new DataView(head.buffer).getBigUint64(0, true));
  if (n > MAX_HEADER_BYTES || 8 + n > size) {
    return `its header length ${n} does not fit in its ${size} bytes (truncated or overwritten)`;
  }
  const json = new Uint8Array(n);
  await readFull(f, json);
  let header: Record<string, { data_offsets?: unknown }>;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(json));
  } catch (e) {
    return `its header is not valid JSON (${(e as Error).message})`;
  }
  let end = 0;
  for (const [name, entry] of Object.entries(header ?? {})) {
    if (name === "__metadata__") continue;
    const offsets = entry?.data_offsets;
    if (Array.isArray(offsets) && typeof offsets[1] === "number") end = Math.max(end, offsets[1]);
  }
  if (8 + n + end !== size) {
    return `its header describes ${8 + n + end} bytes, the file has ${size} (truncated or grown)`;
  }
  return undefined;
}

async function readFull(f: Deno.FsFile, into: Uint8Array): Promise<number> {
  let off = 0;
  while (off < into.length) {
    const got = await f.read(into.subarray(off));
    if (got === null) break;
    off += got;
  }
  return off;
}
