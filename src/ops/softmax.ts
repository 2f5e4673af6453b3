/**
 * Numerically stable softmax over the last axis of f32/f16 activations
 * (`shaders/softmax.wgsl`), computed in f32, one workgroup per row. An
 * optional `scale` multiplies the logits first (attention's `1/sqrt(d)`).
 * CPU reference: `softmax_ref.ts`.
 */
import softmaxWgsl from "../../shaders/softmax.wgsl" with { type: "text" };
import { type GpuContext, grid } from "../gpu/context.ts";
import { Tensor } from "../gpu/tensor.ts";
import { composeWgsl } from "../gpu/wgsl.ts";
import { actType, assertActivation, rowsCols } from "./common.ts";

const WG = 256;

/** `softmax(scale * x)` along the last axis. */
export function softmax(ctx: GpuContext, x: Tensor, scale = 1): Tensor {
  assertActivation(x, "softmax");
  const [rows, cols] = rowsCols(x.shape);
  const out = Tensor.empty(ctx, x.shape, x.dtype, "softmax");
  const params = new ArrayBuffer(12);
  new Uint32Array(params, 0, 2).set([rows, cols]);
  new Float32Array(params, 8, 1)[0] = scale;
  ctx.dispatch({
    name: `softmax_${x.dtype}`,
    code: composeWgsl({
      f16: x.dtype === "f16",
      aliases: { act_t: actType(x.dtype) },
      consts: { WG },
    }, softmaxWgsl),
    params: true,
    storage: ["read", "read_write"],
  }, {
    params: new Uint8Array(params),
    bindings: [x.binding, out.binding],
    workgroups: grid(ctx, rows),
  });
  return out;
}
