/** Shared checks and WGSL type names for ops over activations. */
import type { DType } from "../dtype.ts";
import { shapeStr, type Tensor } from "../gpu/tensor.ts";

/** Activation dtypes the kernels accept. */
export type ActDType = "f32" | "f16";

/** WGSL scalar type of an activation dtype. */
export function actType(dtype: DType): "f32" | "f16" {
  if (dtype !== "f32" && dtype !== "f16") {
    throw new Error(`activations must be f32 or f16, got ${dtype}`);
  }
  return dtype;
}

export function assertActivation(t: Tensor, op: string): void {
  if (t.dtype !== "f32" && t.dtype !== "f16") {
    throw new Error(
      `${op}: tensor '${t.label}' ${shapeStr(t.shape)} is ${t.dtype}; expected f32 or f16`,
    );
  }
  if (t.dtype === "f16" && !t.ctx.features.f16) {
    throw new Error(`${op}: f16 tensor '${t.label}' on an adapter without shader-f16`);
  }
}

/** The last axis of a shape and the product of the others: `[rows, cols]`. */
export function rowsCols(shape: readonly number[]): [number, number] {
  const cols = shape[shape.length - 1];
  return [shape.reduce((a, b) => a * b, 1) / cols, cols];
}
