/**
 * Nearest ×2 upsampling of channels-last feature maps `[H, W, C]` →
 * `[2H, 2W, C]` (`shaders/upsample.wgsl`), as the VAE decoder's upsamplers
 * do before their 3×3 conv. (`conv2d` with `upsample: true` fuses the two and
 * never materialises the 4× tensor.) CPU reference: `upsample_ref.ts`.
 */
import upsampleWgsl from "../../shaders/upsample.wgsl" with { type: "text" };
import { type GpuContext, grid } from "../gpu/context.ts";
import { shapeStr, Tensor } from "../gpu/tensor.ts";
import { composeWgsl } from "../gpu/wgsl.ts";
import { actType, assertActivation } from "./common.ts";

export function upsampleNearest2x(ctx: GpuContext, x: Tensor): Tensor {
  assertActivation(x, "upsampleNearest2x");
  if (x.shape.length !== 3) {
    throw new Error(
      `upsampleNearest2x: '${x.label}' is ${shapeStr(x.shape)}; expected [H, W, C]`,
    );
  }
  const [h, w, c] = x.shape;
  const out = Tensor.empty(ctx, [2 * h, 2 * w, c], x.dtype, "upsample");
  ctx.dispatch({
    name: `upsample_nearest2x_${x.dtype}`,
    code: composeWgsl(
      { f16: x.dtype === "f16", aliases: { act_t: actType(x.dtype) } },
      upsampleWgsl,
    ),
    params: true,
    storage: ["read", "read_write"],
  }, {
    params: new Uint32Array([out.numel, w, c]),
    bindings: [x.binding, out.binding],
    workgroups: grid(ctx, Math.ceil(out.numel / 256)),
  });
  return out;
}
