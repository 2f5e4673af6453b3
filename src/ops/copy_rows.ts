/**
 * Row-band copies between 2-D activations at any row offset, with f32 ↔ f16
 * conversion (`shaders/copy_rows.wgsl`). A view at an arbitrary row offset
 * cannot be bound (storage bindings need offsets that are multiples of 256
 * bytes, and `rows · cols · 2` need not be), so the kernel binds whole
 * tensors and offsets by rows inside. The DiT uses it to place its projected
 * text and image tokens into the `[text | image]` sequence, to take the image
 * rows back out, and to widen an f16 velocity to the f32 the sampler keeps.
 * CPU reference: `copy_rows_ref.ts`.
 */
import copyRowsWgsl from "../../shaders/copy_rows.wgsl" with { type: "text" };
import type { GpuContext } from "../gpu/context.ts";
import { declareKernel } from "../gpu/declare_kernel.ts";
import { shapeStr, Tensor } from "../gpu/tensor.ts";
import { type ActDType, actType, assertActivation, rowsCols } from "./common.ts";

const COPY_ROWS = /* @__PURE__ */ declareKernel({
  name: "copy_rows",
  source: copyRowsWgsl,
  params: { count: "u32", cols: "u32", src_row0: "u32", dst_row0: "u32" }, // count = rows * cols
  entries: { main: { src: "read array<src_t>", dst: "read_write array<dst_t>" } },
  workgroupSize: 256,
  variant: (v: { src_t: ActDType; dst_t: ActDType }) => ({ aliases: v }),
});

/**
 * `dst[dstRow0 + r, :] = src[srcRow0 + r, :]` for `r < rows`, converting to
 * `dst`'s dtype. Both are `[.., cols]` with the same last axis.
 */
export function copyRows(
  ctx: GpuContext,
  src: Tensor,
  srcRow0: number,
  dst: Tensor,
  dstRow0: number,
  rows: number,
): void {
  const op = "copyRows";
  assertActivation(src, op);
  assertActivation(dst, op);
  const [srcRows, cols] = rowsCols(src.shape);
  const [dstRows, dstCols] = rowsCols(dst.shape);
  if (dstCols !== cols) {
    throw new Error(
      `${op}: '${src.label}' ${shapeStr(src.shape)} and '${dst.label}' ${shapeStr(dst.shape)} ` +
        `have different row lengths`,
    );
  }
  for (const [what, v] of [["srcRow0", srcRow0], ["dstRow0", dstRow0], ["rows", rows]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new Error(`${op}: ${what} ${v} is not an index`);
  }
  if (srcRow0 + rows > srcRows || dstRow0 + rows > dstRows) {
    throw new Error(
      `${op}: rows [${srcRow0}, ${srcRow0 + rows}) of '${src.label}' (${srcRows} rows) → ` +
        `[${dstRow0}, ${dstRow0 + rows}) of '${dst.label}' (${dstRows} rows) is out of range`,
    );
  }
  if (src.buffer === dst.buffer) throw new Error(`${op}: source and destination share a buffer`);
  if (rows === 0) return;
  COPY_ROWS.dispatch(ctx, {
    variant: { src_t: actType(src.dtype), dst_t: actType(dst.dtype) },
    params: { count: rows * cols, cols, src_row0: srcRow0, dst_row0: dstRow0 },
    bindings: { src: src.binding, dst: dst.binding },
    workgroups: COPY_ROWS.grid(ctx, rows * cols),
  });
}

/** Rows `[row0, row0 + rows)` of `src` as a new `[rows, cols]` tensor of `dtype` (default src's). */
export function sliceRows(
  ctx: GpuContext,
  src: Tensor,
  row0: number,
  rows: number,
  dtype: ActDType = actType(src.dtype),
  label = `${src.label}[${row0}:${row0 + rows}]`,
): Tensor {
  const cols = rowsCols(src.shape)[1];
  const out = Tensor.empty(ctx, [rows, cols], dtype, label);
  copyRows(ctx, src, row0, out, 0, rows);
  return out;
}
