/**
 * Embedding lookups. Small tables (the DiT's `embed_image_indicator`, 2 rows)
 * live on the GPU and are gathered by `shaders/embedding.wgsl`; huge ones
 * (Qwen's 151936 × 4096 bf16 `embed_tokens`, 1.2 GB) stay in host memory and
 * only the rows a prompt uses are decoded to f32 ({@link gatherRowsHost}) and
 * then uploaded. CPU reference: `embedding_ref.ts`.
 */
import embeddingWgsl from "../../shaders/embedding.wgsl" with { type: "text" };
import { f16ToF32 } from "../dtype.ts";
import type { GpuContext } from "../gpu/context.ts";
import { declareKernel } from "../gpu/declare_kernel.ts";
import { shapeStr, Tensor } from "../gpu/tensor.ts";
import { type ActDType, actType, assertActivation } from "./common.ts";

const EMBEDDING = /* @__PURE__ */ declareKernel({
  name: "embedding",
  source: embeddingWgsl,
  params: { count: "u32", dim: "u32", vocab: "u32" }, // count = ids * dim
  entries: {
    main: {
      table: "read array<act_t>",
      ids: "read array<u32>",
      out: "read_write array<act_t>",
    },
  },
  workgroupSize: 256,
  variant: (v: { act_t: ActDType }) => ({ aliases: v }),
});

/** Element types a host embedding table may be stored in. */
export type HostTableDType = "f32" | "f16" | "bf16";

const ELEMENT_BYTES: Record<HostTableDType, number> = { f32: 4, f16: 2, bf16: 2 };

/** Throws a clear error when an id is not a row of a `rows`-row table. */
function checkIds(ids: ArrayLike<number>, rows: number, what: string): void {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!Number.isInteger(id) || id < 0 || id >= rows) {
      throw new Error(`${what}: id ${id} at position ${i} is outside the table's ${rows} rows`);
    }
  }
}

/**
 * `out[r] = table[ids[r]]` on the GPU: `table` `[V, D]` f32/f16, `ids` a u32
 * tensor `[L]` (ids ≥ V give zero rows) or host ids (checked, then uploaded).
 * Output `[L, D]` in the table's dtype.
 */
export function embedding(
  ctx: GpuContext,
  table: Tensor,
  ids: Tensor | Uint32Array | Int32Array | number[],
): Tensor {
  assertActivation(table, "embedding");
  if (table.shape.length !== 2) {
    throw new Error(
      `embedding: table '${table.label}' is ${shapeStr(table.shape)}; expected [V, D]`,
    );
  }
  const [vocab, dim] = table.shape;
  let idTensor: Tensor;
  if (ids instanceof Tensor) {
    if (ids.dtype !== "u32") {
      throw new Error(`embedding: ids '${ids.label}' are ${ids.dtype}; expected u32`);
    }
    idTensor = ids;
  } else {
    checkIds(ids, vocab, `embedding '${table.label}'`);
    idTensor = Tensor.upload(ctx, Uint32Array.from(ids), [ids.length], "u32", "embedding.ids");
  }
  const count = idTensor.numel * dim;
  const out = Tensor.empty(ctx, [idTensor.numel, dim], table.dtype, "embedding");
  EMBEDDING.dispatch(ctx, {
    variant: { act_t: actType(table.dtype) },
    params: { count, dim, vocab },
    bindings: { table: table.binding, ids: idTensor.binding, out: out.binding },
    workgroups: EMBEDDING.grid(ctx, count),
  });
  // Safe to release now: later commands run after this dispatch, and uploads
  // into a reused buffer flush first.
  if (idTensor !== ids) idTensor.release();
  return out;
}

let f16Table: Float32Array | undefined;

/** All 65536 half values, so decoding a row is one lookup per element. */
function f16Lookup(): Float32Array {
  return f16Table ??= Float32Array.from({ length: 65536 }, (_, h) => f16ToF32(h));
}

/** Decodes one stored row into `out[at .. at + dim)`. */
function decodeRow(
  bytes: Uint8Array,
  dtype: HostTableDType,
  dim: number,
  out: Float32Array,
  at: number,
): void {
  // Typed views need aligned offsets; a mapped file gives whatever the tensor's offset is.
  const aligned = bytes.byteOffset % ELEMENT_BYTES[dtype] === 0 ? bytes : bytes.slice();
  if (dtype === "f32") {
    out.set(new Float32Array(aligned.buffer, aligned.byteOffset, dim), at);
    return;
  }
  const halves = new Uint16Array(aligned.buffer, aligned.byteOffset, dim);
  if (dtype === "bf16") {
    // bf16 is the top half of an f32: shift the bits into place.
    const bits = new Uint32Array(out.buffer, out.byteOffset + at * 4, dim);
    for (let c = 0; c < dim; c++) bits[c] = halves[c] << 16;
  } else {
    const lut = f16Lookup();
    for (let c = 0; c < dim; c++) out[at + c] = lut[halves[c]];
  }
}

function checkTable(bytes: number, dtype: HostTableDType, rows: number, dim: number, what: string) {
  const need = rows * dim * ELEMENT_BYTES[dtype];
  if (bytes < need) {
    throw new Error(`${what}: ${bytes} bytes hold less than [${rows}, ${dim}] ${dtype} (${need})`);
  }
}

/**
 * Gathers rows `ids` of a host table `[rows, dim]` (raw little-endian bytes
 * in `dtype`, e.g. a view over a mapped safetensors file, or f32 values) into
 * a new `[ids.length, dim]` Float32Array. Only the needed rows are touched.
 * An id outside `[0, rows)` is an error naming it.
 */
export function gatherRowsHost(
  source: Uint8Array | Float32Array,
  dtype: HostTableDType,
  rows: number,
  dim: number,
  ids: ArrayLike<number>,
  what = "embedding table",
): Float32Array {
  if (source instanceof Float32Array && dtype !== "f32") {
    throw new Error(`${what}: Float32Array given for a ${dtype} table`);
  }
  const bytes = new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  checkTable(bytes.byteLength, dtype, rows, dim, what);
  checkIds(ids, rows, what);
  const rowBytes = dim * ELEMENT_BYTES[dtype];
  const out = new Float32Array(ids.length * dim);
  for (let i = 0; i < ids.length; i++) {
    const start = ids[i] * rowBytes;
    decodeRow(bytes.subarray(start, start + rowBytes), dtype, dim, out, i * dim);
  }
  return out;
}
