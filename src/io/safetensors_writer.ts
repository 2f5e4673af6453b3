/**
 * Builds safetensors files in memory — the test checkpoints of the whole
 * project and the embedded default model. Output follows the format exactly:
 * header padded with spaces so the data section starts 8-byte aligned, and
 * tensors laid out back to back (no gaps, as strict readers require), widest
 * element type first so every tensor stays aligned to its element size.
 */
import { ITEM_BYTES, numelOf, type SafetensorsDType, shapeText } from "./tensor_store.ts";

/** One tensor to write: raw little-endian bytes of `shape` elements of `dtype`. */
export interface WriterTensor {
  /** Element type. */
  dtype: SafetensorsDType;
  /** Dimensions. */
  shape: number[];
  /** Little-endian element bytes. */
  data: Uint8Array;
}

/** Tensors by name (insertion order is kept within each element size). */
export type TensorMap = Record<string, WriterTensor>;

/** Checks a tensor's byte count against its dtype and shape. */
function checkTensor(name: string, t: WriterTensor): void {
  if (!Object.hasOwn(ITEM_BYTES, t.dtype)) {
    throw new Error(`tensor '${name}': unknown dtype ${JSON.stringify(t.dtype)}`);
  }
  if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new Error(`tensor '${name}': bad shape ${JSON.stringify(t.shape)}`);
  }
  const want = numelOf(t.shape) * ITEM_BYTES[t.dtype];
  if (t.data.byteLength !== want) {
    throw new Error(
      `tensor '${name}': ${t.data.byteLength} bytes of data, but ${t.dtype} ` +
        `${shapeText(t.shape)} is ${want} bytes`,
    );
  }
}

/**
 * The bytes before a safetensors file's data: the header length (u64 little
 * endian), then the JSON header padded with spaces to a multiple of 8, so the
 * data starts 8-aligned. `header` maps names to `{dtype, shape, data_offsets}`.
 */
export function safetensorsPrefix(header: Record<string, unknown>): Uint8Array<ArrayBuffer> {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLen = Math.ceil(json.byteLength / 8) * 8;
  const prefix = new Uint8Array(8 + headerLen).fill(0x20); // spaces: valid JSON whitespace
  new DataView(prefix.buffer).setBigUint64(0, BigInt(headerLen), true);
  prefix.set(json, 8);
  return prefix;
}

/** One safetensors file holding `tensors`, with optional string metadata. */
export function writeSafetensors(
  tensors: TensorMap,
  metadata?: Record<string, string>,
): Uint8Array<ArrayBuffer> {
  const entries = Object.entries(tensors);
  for (const [name, t] of entries) {
    if (name === "__metadata__") throw new Error(`'__metadata__' cannot be a tensor name`);
    checkTensor(name, t);
  }
  // Stable sort: widest elements first keeps each tensor aligned to its element size.
  entries.sort((a, b) => ITEM_BYTES[b[1].dtype] - ITEM_BYTES[a[1].dtype]);

  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of entries) {
    header[name] = {
      dtype: t.dtype,
      shape: t.shape,
      data_offsets: [offset, offset + t.data.byteLength],
    };
    offset += t.data.byteLength;
  }
  const prefix = safetensorsPrefix(header);
  const out = new Uint8Array(prefix.length + offset);
  out.set(prefix);
  let at = prefix.length;
  for (const [, t] of entries) {
    out.set(t.data, at);
    at += t.data.byteLength;
  }
  return out;
}

/** How {@link writeShardedSafetensors} splits a checkpoint. */
export interface ShardOptions {
  /** File stem: shards are `<stem>-00001-of-0000N.safetensors`, index `<stem>.safetensors.index.json`. */
  stem: string;
  /** Number of shards (each gets whole tensors, in order, about equal bytes). Default 2. */
  shards?: number;
  /** The header's `__metadata__` (string → string). */
  metadata?: Record<string, string>;
}

/**
 * A sharded checkpoint as files: file name → bytes, the index included
 * (`{"metadata": {"total_size": N}, "weight_map": {tensor: shard}}`).
 */
export function writeShardedSafetensors(
  tensors: TensorMap,
  options: ShardOptions,
): Map<string, Uint8Array<ArrayBuffer>> {
  const count = options.shards ?? 2;
  const entries = Object.entries(tensors);
  if (!Number.isInteger(count) || count < 1 || count > entries.length) {
    throw new Error(`cannot split ${entries.length} tensors into ${count} shards`);
  }
  const total = entries.reduce((s, [, t]) => s + t.data.byteLength, 0);
  const groups: TensorMap[] = Array.from({ length: count }, () => ({}));
  let k = 0, filled = 0;
  for (const [i, [name, t]] of entries.entries()) {
    // Move on once this shard has its share of the bytes, or when the tensors
    // left are just enough to give every later shard one.
    const later = count - 1 - k;
    const share = (total * (k + 1)) / count;
    if (
      Object.keys(groups[k]).length > 0 && later > 0 &&
      (filled >= share || entries.length - i <= later)
    ) k++;
    groups[k][name] = t;
    filled += t.data.byteLength;
  }
  const files = new Map<string, Uint8Array<ArrayBuffer>>();
  const weightMap: Record<string, string> = {};
  const digits = (k: number) => String(k).padStart(5, "0");
  groups.forEach((group, k) => {
    const file = `${options.stem}-${digits(k + 1)}-of-${digits(groups.length)}.safetensors`;
    files.set(file, writeSafetensors(group, options.metadata));
    for (const name of Object.keys(group)) weightMap[name] = file;
  });
  const index = { metadata: { total_size: total }, weight_map: weightMap };
  files.set(
    `${options.stem}.safetensors.index.json`,
    new TextEncoder().encode(JSON.stringify(index, null, 2)),
  );
  return files;
}
