/**
 * Random bytes for the tensors of `layout.ts`, drawn as each tensor's
 * `RandomInit` says, deterministic for a seed and independent of how the
 * caller cuts a tensor into chunks (so a 2.5 GB embedding never has to sit in
 * memory). Values are plausible for a trained model — Linear weights of
 * standard deviation 1/sqrt(in), norms near 1, finite fp8 codes — so a
 * forward over them neither overflows nor collapses, and every byte is real
 * (no holes, no zeros): speed and numerics measured on such a checkpoint are
 * those of the released one.
 *
 * Speed matters (the released nf4 model is ~15 GB, written on the GPU machine
 * itself): one 32-bit draw gives 4 bytes, 4 fp8 codes or 2 bf16 values, each
 * looked up in a per-tensor table of normal samples. Portable (no Deno APIs).
 */
import { f32ToBf16 } from "../dtype.ts";
import { toFp8e4m3 } from "../formats/fp8.ts";
import { toInt8 } from "../formats/int8.ts";
import { ITEM_BYTES, numelOf } from "../io/tensor_store.ts";
import { safetensorsPrefix } from "../io/safetensors_writer.ts";
import { randn } from "../tiny/random.ts";
import { FP8_UNIT, INT8_UNIT, type LayoutTensor, type LayoutTensors } from "./layout.ts";

/** xoshiro128** seeded through splitmix32: fast, good 32-bit output. */
class Xoshiro128 {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const next = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next() | 1;
  }

  /** Fills `w` with the next `w.length` outputs (state in locals: several times faster). */
  fill(w: Uint32Array): void {
    let a = this.a, b = this.b, c = this.c, d = this.d;
    for (let i = 0; i < w.length; i++) {
      const bm = Math.imul(b, 5);
      w[i] = Math.imul((bm << 7) | (bm >>> 25), 9);
      const t = b << 9;
      c ^= a;
      d ^= b;
      b ^= c;
      a ^= d;
      c ^= t;
      d = (d << 11) | (d >>> 21);
    }
    this.a = a;
    this.b = b;
    this.c = c;
    this.d = d;
  }

  next(): number {
    const r = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return r;
  }
}

const rotl = (x: number, k: number) => (x << k) | (x >>> (32 - k));

/** FNV-1a of a tensor name, mixed with the checkpoint seed. */
function tensorSeed(seed: number, name: string): number {
  let h = 0x811c9dc5 ^ Math.imul(seed >>> 0, 0x9e3779b1);
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Bytes of a tensor in its file. */
export function tensorBytes(t: LayoutTensor): number {
  return numelOf(t.shape) * ITEM_BYTES[t.dtype];
}

/**
 * Fills one tensor's bytes chunk by chunk, in order: `fill(chunk)` writes the
 * next `chunk.length` bytes. Every chunk but the last must be a multiple of 4
 * bytes long; the result does not depend on the chunk sizes.
 */
export class TensorFiller {
  private readonly rng: Xoshiro128;
  private done = 0;
  private readonly total: number;
  private readonly fillChunk: (chunk: Uint8Array) => void;

  constructor(readonly name: string, readonly tensor: LayoutTensor, readonly seed: number) {
    this.total = tensorBytes(tensor);
    this.rng = new Xoshiro128(tensorSeed(seed, name));
    this.fillChunk = this.filler();
  }

  fill(chunk: Uint8Array): void {
    if (this.done + chunk.length > this.total) {
      throw new Error(`tensor '${this.name}': filling past its ${this.total} bytes`);
    }
    if (this.done % 4 !== 0) {
      throw new Error(`tensor '${this.name}': chunk after a short one (chunks are multiples of 4)`);
    }
    this.fillChunk(chunk);
    this.done += chunk.length;
  }

  private filler(): (chunk: Uint8Array) => void {
    const { tensor: t, name, rng } = this;
    if (t.data) {
      const data = t.data;
      return (chunk) => chunk.set(data.subarray(this.done, this.done + chunk.length));
    }
    const init = t.init;
    if (!init) throw new Error(`tensor '${name}': neither data nor a random init`);
    switch (init.kind) {
      case "bytes":
        return (chunk) => fillLookup(chunk, rng, null);
      case "fp8":
      case "int8": {
        // Row-scaled codes: each byte one of 256 normal samples times the format's unit, encoded.
        const code = ROW_SCALED_CODES[init.kind];
        if (t.dtype !== code.dtype) break;
        const table = cachedTable(
          `${init.kind}:${this.seed}`,
          () => Uint8Array.from(symmetricNormal(256, this.seed, code.unit), code.encode),
        );
        return (chunk) => fillLookup(chunk, rng, table);
      }
      case "normal": {
        const mean = init.mean ?? 0, key = `${this.seed}:${init.std}:${mean}`;
        const z = cachedTable(
          `f32:${key}`,
          () => symmetricNormal(65536, this.seed, init.std).map((v) => v + mean),
        );
        if (t.dtype === "BF16") {
          const table = cachedTable(`bf16:${key}`, () => Uint16Array.from(z, f32ToBf16));
          return (chunk) => fillBf16(chunk, rng, table);
        }
        if (t.dtype === "F32") return (chunk) => fillF32(chunk, () => z[rng.next() >>> 16]);
        break;
      }
      case "uniform": {
        if (t.dtype !== "F32") break;
        const span = init.hi - init.lo;
        return (chunk) => fillF32(chunk, () => init.lo + span * (rng.next() / 4294967296));
      }
    }
    throw new Error(`tensor '${name}': random init '${init.kind}' does not fit dtype ${t.dtype}`);
  }
}

/** How each row-scaled format's random codes are drawn: dtype, unit (≈ 5σ at the top), encoder. */
const ROW_SCALED_CODES = {
  fp8: { dtype: "F8_E4M3", unit: FP8_UNIT, encode: toFp8e4m3 },
  int8: { dtype: "I8", unit: INT8_UNIT, encode: toInt8 },
} as const;

/** `n` normal samples of standard deviation `std`, half of them the others negated (mean exactly 0). */
function symmetricNormal(n: number, seed: number, std: number): Float32Array {
  const half = randn(n / 2, seed, std);
  const out = new Float32Array(n);
  out.set(half);
  for (let i = 0; i < half.length; i++) out[n / 2 + i] = -half[i];
  return out;
}

/**
 * Normal samples per (seed, distribution), shared by every tensor drawn from
 * the same distribution (each tensor still picks its own random entries).
 */
const tables = new Map<string, Float32Array | Uint16Array | Uint8Array>();

function cachedTable<T extends Float32Array | Uint16Array | Uint8Array>(
  key: string,
  make: () => T,
): T {
  let t = tables.get(key);
  if (!t) {
    if (tables.size > 256) tables.clear();
    tables.set(key, t = make());
  }
  return t as T;
}

/** Random bytes, or each byte mapped through `table` (256 entries). */
function fillLookup(chunk: Uint8Array, rng: Xoshiro128, table: Uint8Array | null): void {
  const words = chunk.length >>> 2;
  if (chunk.byteOffset % 4 === 0) {
    rng.fill(new Uint32Array(chunk.buffer, chunk.byteOffset, words));
  } else {
    for (let i = 0; i < words; i++) {
      const r = rng.next();
      chunk[4 * i] = r;
      chunk[4 * i + 1] = r >>> 8;
      chunk[4 * i + 2] = r >>> 16;
      chunk[4 * i + 3] = r >>> 24;
    }
  }
  if (words * 4 < chunk.length) {
    const r = rng.next();
    for (let i = words * 4; i < chunk.length; i++) chunk[i] = r >>> (8 * (i & 3));
  }
  if (table) { for (let i = 0; i < chunk.length; i++) chunk[i] = table[chunk[i]]; }
}

function fillBf16(chunk: Uint8Array, rng: Xoshiro128, table: Uint16Array): void {
  const n = chunk.length >>> 1;
  if (chunk.byteOffset % 4 === 0 && n % 2 === 0) {
    const w = new Uint32Array(chunk.buffer, chunk.byteOffset, n >>> 1);
    rng.fill(w);
    for (let i = 0; i < w.length; i++) {
      const r = w[i];
      w[i] = table[r & 0xffff] | (table[r >>> 16] << 16);
    }
    return;
  }
  for (let i = 0; i < n; i += 2) {
    const r = rng.next();
    const a = table[r & 0xffff], b = table[r >>> 16];
    chunk[2 * i] = a;
    chunk[2 * i + 1] = a >>> 8;
    if (i + 1 < n) {
      chunk[2 * i + 2] = b;
      chunk[2 * i + 3] = b >>> 8;
    }
  }
}

function fillF32(chunk: Uint8Array, draw: () => number): void {
  const dv = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  for (let i = 0; i + 4 <= chunk.length; i += 4) dv.setFloat32(i, draw(), true);
}

/** Where each tensor goes in one safetensors file. */
export interface SafetensorsPlan {
  /** The 8-byte length, the JSON header and its padding: the file's first bytes. */
  prefix: Uint8Array;
  /** Tensors in file order with their offsets from the end of `prefix`. */
  entries: { name: string; tensor: LayoutTensor; offset: number; size: number }[];
  /** Whole file size. */
  size: number;
}

/**
 * The header of one safetensors file holding `tensors`: back to back, widest
 * element first (each tensor aligned to its element size), header padded
 * with spaces to 8 bytes, as `safetensors_writer.ts` lays files out.
 */
export function planSafetensors(tensors: LayoutTensors): SafetensorsPlan {
  const ordered = [...tensors.entries()].sort((a, b) =>
    ITEM_BYTES[b[1].dtype] - ITEM_BYTES[a[1].dtype]
  );
  const header: Record<string, unknown> = {};
  const entries: SafetensorsPlan["entries"] = [];
  let offset = 0;
  for (const [name, tensor] of ordered) {
    const size = tensorBytes(tensor);
    if (tensor.data && tensor.data.byteLength !== size) {
      throw new Error(`tensor '${name}': ${tensor.data.byteLength} bytes of data for ${size}`);
    }
    header[name] = {
      dtype: tensor.dtype,
      shape: tensor.shape,
      data_offsets: [offset, offset + size],
    };
    entries.push({ name, tensor, offset, size });
    offset += size;
  }
  const prefix = safetensorsPrefix(header);
  return { prefix, entries, size: prefix.length + offset };
}

/** Splits tensors into `count` shards of whole tensors, in order, of about equal bytes. */
export function splitShards(tensors: LayoutTensors, count: number): LayoutTensors[] {
  const entries = [...tensors.entries()];
  const total = entries.reduce((s, [, t]) => s + tensorBytes(t), 0);
  const shards: LayoutTensors[] = Array.from({ length: count }, () => new Map());
  let k = 0, filled = 0;
  for (const [i, [name, t]] of entries.entries()) {
    const later = count - 1 - k;
    if (
      shards[k].size > 0 && later > 0 &&
      (filled >= (total * (k + 1)) / count || entries.length - i <= later)
    ) k++;
    shards[k].set(name, t);
    filled += tensorBytes(t);
  }
  return shards;
}

/** One whole safetensors file of random `tensors` in memory (one-block benchmarks, small models). */
export function randomSafetensors(tensors: LayoutTensors, seed: number): Uint8Array<ArrayBuffer> {
  const plan = planSafetensors(tensors);
  const out = new Uint8Array(plan.size);
  out.set(plan.prefix);
  for (const e of plan.entries) {
    const at = plan.prefix.length + e.offset;
    new TensorFiller(e.name, e.tensor, seed).fill(out.subarray(at, at + e.size));
  }
  return out;
}
