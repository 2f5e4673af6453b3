/**
 * Row-band copies between 2-D activations, with f32 ↔ f16 conversion
 * (`shaders/dit_rows.wgsl`). The DiT's sequence is `[text | image]`: the
 * projected text and image tokens are computed apart and copied into their
 * row ranges, and the final layer reads the image rows back out. A view at
 * such a row offset could not be bound (storage bindings need offsets that
 * are multiples of 256 bytes, and `Ltxt · emb · 2` need not be), so the
 * kernel binds whole tensors and offsets by rows inside. It also widens an
 * f16 velocity to the f32 the sampler keeps. CPU reference: `dit_rows_ref.ts`.
 */
import ditRowsWgsl from "../../shaders/dit_rows.wgsl" with { type: "text" };
import { type GpuContext, grid } from "../gpu/context.ts";
import { shapeStr, Tensor } from "../gpu/tensor.ts";
import { composeWgsl } from "../gpu/wgsl.ts";
import { type ActDType, actType, assertActivation, rowsCols } from "./common.ts";

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
  ctx.dispatch({
    name: `dit_rows_${src.dtype}_${dst.dtype}`,
    code: composeWgsl({
      f16: src.dtype === "f16" || dst.dtype === "f16",
      aliases: { src_t: actType(src.dtype), dst_t: actType(dst.dtype) },
    }, ditRowsWgsl),
    params: true,
    storage: ["read", "read_write"],
  }, {
    params: new Uint32Array([rows * cols, cols, srcRow0, dstRow0]),
    bindings: [src.binding, dst.binding],
    workgroups: grid(ctx, Math.ceil((rows * cols) / 256)),
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
