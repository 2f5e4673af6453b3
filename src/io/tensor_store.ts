/**
 * What a reader of named tensors offers, whether one safetensors file
 * ({@link SafetensorsFile}) or a folder of shards ({@link Checkpoint}), plus
 * the dtype table and the f32 decoding both share.
 */
import { f16ToF32 } from "../dtype.ts";

/** Element types this runtime reads from safetensors (the names the format uses). */
export type SafetensorsDType = "F32" | "F16" | "BF16" | "F8_E4M3" | "U8" | "I8" | "I32" | "I64";

export const ITEM_BYTES: Record<SafetensorsDType, number> = {
  F32: 4,
  F16: 2,
  BF16: 2,
  F8_E4M3: 1,
  U8: 1,
  I8: 1,
  I32: 4,
  I64: 8,
};

export function isSafetensorsDType(s: unknown): s is SafetensorsDType {
  return typeof s === "string" && Object.hasOwn(ITEM_BYTES, s);
}

/** Where one tensor lives. */
export interface TensorInfo {
  /** Tensor name. */
  name: string;
  /** The file holding it (path or URL), for error messages. */
  file: string;
  /** Element type as stored. */
  dtype: SafetensorsDType;
  /** Dimensions. */
  shape: number[];
  /** Absolute byte offset of element 0 in `file`. */
  byteOffset: number;
  /** Bytes of the data. */
  byteLength: number;
}

/** Named tensors read from one or more safetensors files (a file, or a sharded checkpoint). */
export interface TensorStore {
  /** File or folder, for error messages. */
  readonly name: string;
  /** Every tensor name. */
  names(): string[];
  /** Whether a tensor of that name exists. */
  has(name: string): boolean;
  /** Throws, naming the store and the tensor (with a close match if any), when absent. */
  info(name: string): TensorInfo;
  /** Raw little-endian bytes; a view over the mapping for mmapped files (read-only memory). */
  bytes(name: string): Promise<Uint8Array>;
  /** F32 / F16 / BF16 tensor decoded to a fresh Float32Array. */
  f32(name: string): Promise<Float32Array>;
  /** Releases the files and mappings; views from `bytes` die with them. */
  close(): void;
}

export function shapeText(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

export function numelOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

let f16Table: Float32Array | undefined;

/** Decodes an F32 / F16 / BF16 tensor's bytes to a new Float32Array (little-endian hosts). */
export function decodeF32(info: TensorInfo, bytes: Uint8Array): Float32Array {
  const n = numelOf(info.shape);
  switch (info.dtype) {
    case "F32": {
      // Copy first: the source may be unaligned or read-only mapped memory.
      return new Float32Array(bytes.slice(0, n * 4).buffer);
    }
    case "F16": {
      if (!f16Table) {
        f16Table = new Float32Array(65536);
        for (let h = 0; h < 65536; h++) f16Table[h] = f16ToF32(h);
      }
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = f16Table[bytes[2 * i] | (bytes[2 * i + 1] << 8)];
      return out;
    }
    case "BF16": {
      // bf16 is the top half of an f32.
      const bits = new Uint32Array(n);
      for (let i = 0; i < n; i++) bits[i] = (bytes[2 * i] << 16) | (bytes[2 * i + 1] << 24);
      return new Float32Array(bits.buffer);
    }
    default:
      throw new Error(
        `${info.file}: tensor '${info.name}' is ${info.dtype}; only F32, F16 and BF16 decode ` +
          `to f32 (quantized weights go through loadHostLinear)`,
      );
  }
}

/** Error for a tensor that is not in `store`, with the closest existing name as a hint. */
export function missingTensor(storeName: string, name: string, names: readonly string[]): Error {
  const near = closestName(name, names);
  return new Error(
    `${storeName}: no tensor '${name}' (${names.length} tensors` +
      (near ? `; did you mean '${near}'?)` : ")"),
  );
}

/** The name within edit distance ~30% of `target`, or undefined. */
export function closestName(target: string, names: readonly string[]): string | undefined {
  const limit = Math.max(2, Math.floor(target.length * 0.3));
  let best: string | undefined;
  let bestDist = limit + 1;
  for (const name of names) {
    if (Math.abs(name.length - target.length) >= bestDist) continue;
    const d = editDistance(target, name, bestDist);
    if (d < bestDist) [best, bestDist] = [name, d];
  }
  return best;
}

/** Levenshtein distance, giving up (returning `cap`) once every row exceeds `cap`. */
function editDistance(a: string, b: string, cap: number): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const v = Math.min(
        prev[j] + 1,
        row[j - 1] + 1,
        prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      row.push(v);
      rowMin = Math.min(rowMin, v);
    }
    if (rowMin >= cap) return cap;
    prev = row;
  }
  return prev[b.length];
}
