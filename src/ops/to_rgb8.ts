/**
 * The VAE decoder's boundary conversions (`shaders/vae_output.wgsl`):
 * {@link toRgb8} turns the decoder's float image into the uint8 RGB the
 * pipeline returns, and {@link castActivations} converts the f32 latent to
 * the decoder's activation dtype (f16 runs). CPU reference: `to_rgb8_ref.ts`.
 */
import vaeOutputWgsl from "../../shaders/vae_output.wgsl" with { type: "text" };
import { type GpuContext, grid } from "../gpu/context.ts";
import { Tensor } from "../gpu/tensor.ts";
import { composeWgsl } from "../gpu/wgsl.ts";
import { type ActDType, actType, assertActivation } from "./common.ts";

function kernel(entryPoint: string, inT: ActDType, outT: ActDType) {
  return {
    name: `vae_${entryPoint}_${inT}_${outT}`,
    code: composeWgsl({
      f16: inT === "f16" || outT === "f16",
      aliases: { in_t: inT, out_t: outT },
    }, vaeOutputWgsl),
    entryPoint,
    params: true,
    storage: ["read", "read_write"] as ("read" | "read_write")[],
  };
}

/**
 * `round((clamp(y, -1, 1) + 1) · 127.5)` of every value of `x` (f32 or f16,
 * e.g. `[H, W, 3]`), as a u8 tensor of `x.numel` bytes in the same order
 * (packed RGB for an HWC image). Rounds half to even, as torch.round.
 */
export function toRgb8(ctx: GpuContext, x: Tensor): Tensor {
  assertActivation(x, "toRgb8");
  const n = x.numel, words = Math.ceil(n / 4);
  const out = Tensor.empty(ctx, [n], "u8", "rgb8");
  const t = actType(x.dtype);
  ctx.dispatch(kernel("to_rgb8", t, t), {
    params: new Uint32Array([n, words]),
    bindings: [x.binding, out.binding],
    workgroups: grid(ctx, Math.ceil(words / 256)),
  });
  return out;
}

/** `x` converted to `dtype` (a new tensor, same shape). */
export function castActivations(ctx: GpuContext, x: Tensor, dtype: ActDType): Tensor {
  assertActivation(x, "castActivations");
  const out = Tensor.empty(ctx, x.shape, dtype, `${x.label} as ${dtype}`);
  ctx.dispatch(kernel("convert", actType(x.dtype), dtype), {
    params: new Uint32Array([x.numel, x.numel]),
    bindings: [x.binding, out.binding],
    workgroups: grid(ctx, Math.ceil(x.numel / 256)),
  });
  return out;
}
