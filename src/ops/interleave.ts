/**
 * Interleaving several same-shaped tensors along a new fastest axis:
 * `out[.., c * slots + s] = sources[s][.., c]`, output f32. This is how
 * Ideogram 4 concatenates the 13 tapped Qwen3 hidden states (`h * 13 + tap`),
 * done on the GPU so the features never leave it. Each source is written by
 * its own dispatch ({@link interleaveInto}), so a caller can write a tap as
 * soon as it exists and release it. CPU reference: `interleave_ref.ts`.
 */
import interleaveWgsl from "../../shaders/interleave.wgsl" with { type: "text" };
import { type GpuContext, grid } from "../gpu/context.ts";
import { shapeStr, Tensor } from "../gpu/tensor.ts";
import { composeWgsl } from "../gpu/wgsl.ts";
import { actType, assertActivation } from "./common.ts";

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
  ctx.dispatch({
    name: `interleave_${src.dtype}`,
    code: composeWgsl(
      { f16: src.dtype === "f16", aliases: { act_t: actType(src.dtype) } },
      interleaveWgsl,
    ),
    params: true,
    storage: ["read", "read_write"],
  }, {
    params: new Uint32Array([src.numel, slots, slot]),
    bindings: [src.binding, out.binding],
    workgroups: grid(ctx, Math.ceil(src.numel / 256)),
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
