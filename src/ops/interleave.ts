/**
 * Interleaving several same-shaped tensors along a new fastest axis:
 * `out[.., c * slots + s] = sources[s][.., c]`, output f32, on the GPU. Each
 * source is written by its own dispatch ({@link interleaveInto}), so a caller
 * can write a source as soon as it exists and release it (the text encoder
 * stacks its tapped hidden states this way, tap index fastest). CPU
 * reference: `interleave_ref.ts`.
 */
import interleaveWgsl from "../../shaders/interleave.wgsl" with { type: "text" };
import type { GpuContext } from "../gpu/context.ts";
import { declareKernel } from "../gpu/declare_kernel.ts";
import { shapeStr, Tensor } from "../gpu/tensor.ts";
import { type ActDType, actType, assertActivation } from "./common.ts";

const INTERLEAVE = /* @__PURE__ */ declareKernel({
  name: "interleave",
  source: interleaveWgsl,
  params: { count: "u32", slots: "u32", slot: "u32" }, // count = rows * cols
  entries: { main: { src: "read array<act_t>", out: "read_write array<f32>" } },
  workgroupSize: 256,
  variant: (v: { act_t: ActDType }) => ({ aliases: v }),
});

/**
 * Writes `src` (`[.., cols]`, f32/f16) into slot `slot` of `out`
 * (`[.., cols * slots]` f32): `out[r, c * slots + slot] = src[r, c]`.
 */
export function interleaveInto(
  ctx: GpuContext,
  out: Tensor,
  src: Tensor,
  slot: number,
  slots: number,
): void {
  assertActivation(src, "interleaveInto");
  if (out.dtype !== "f32") {
    throw new Error(`interleaveInto: output '${out.label}' is ${out.dtype}; expected f32`);
  }
  if (!Number.isInteger(slot) || !Number.isInteger(slots) || slot < 0 || slot >= slots) {
    throw new Error(`interleaveInto: slot ${slot} is not in 0..${slots - 1}`);
  }
  if (out.numel !== src.numel * slots) {
    throw new Error(
      `interleaveInto: output '${out.label}' ${shapeStr(out.shape)} does not hold ${slots} ` +
        `× '${src.label}' ${shapeStr(src.shape)}`,
    );
  }
  INTERLEAVE.dispatch(ctx, {
    variant: { act_t: actType(src.dtype) },
    params: { count: src.numel, slots, slot },
    bindings: { src: src.binding, out: out.binding },
    workgroups: INTERLEAVE.grid(ctx, src.numel),
  });
}

/** All `sources` (same shape `[.., cols]`) interleaved into a new `[.., cols * n]` f32 tensor. */
export function interleave(
  ctx: GpuContext,
  sources: readonly Tensor[],
  label = "interleave",
): Tensor {
  if (sources.length === 0) throw new Error("interleave: no sources");
  const shape = sources[0].shape;
  for (const s of sources) {
    if (s.shape.length !== shape.length || s.shape.some((d, i) => d !== shape[i])) {
      throw new Error(
        `interleave: '${s.label}' ${shapeStr(s.shape)} differs from '${sources[0].label}' ` +
          shapeStr(shape),
      );
    }
  }
  const outShape = [...shape.slice(0, -1), shape[shape.length - 1] * sources.length];
  const out = Tensor.empty(ctx, outShape, "f32", label);
  sources.forEach((s, i) => interleaveInto(ctx, out, s, i, sources.length));
  return out;
}
