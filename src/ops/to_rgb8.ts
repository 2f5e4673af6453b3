/**
 * The VAE decoder's boundary conversions (`shaders/vae_output.wgsl`):
 * {@link toRgb8} turns the decoder's float image into the uint8 RGB the
 * pipeline returns, and {@link castActivations} converts the f32 latent to
 * the decoder's activation dtype (f16 runs). CPU reference: `to_rgb8_ref.ts`.
 */
import vaeOutputWgsl from "../../shaders/vae_output.wgsl" with { type: "text" };
import type { GpuContext } from "../gpu/context.ts";
import { declareKernel } from "../gpu/declare_kernel.ts";
import { Tensor } from "../gpu/tensor.ts";
import { type ActDType, actType, assertActivation } from "./common.ts";

const VAE_OUTPUT = /* @__PURE__ */ declareKernel({
  name: "vae_output",
  source: vaeOutputWgsl,
  params: {
    count: "u32", // values in x
    words: "u32", // output words (to_rgb8) or values (convert)
  },
  entries: {
    to_rgb8: { x: "read array<in_t>", rgb: "read_write array<u32>" },
    convert: { x: "read array<in_t>", y: "read_write array<out_t>" },
  },
  workgroupSize: 256,
  // The element type read, and the one `convert` writes (unused by to_rgb8).
  variant: (v: { in_t: ActDType; out_t: ActDType }) => ({ aliases: v }),
});

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
  VAE_OUTPUT.dispatch(ctx, {
    entry: "to_rgb8",
    variant: { in_t: t, out_t: t },
    params: { count: n, words },
    bindings: { x: x.binding, rgb: out.binding },
    workgroups: VAE_OUTPUT.grid(ctx, words),
  });
  return out;
}

/** `x` converted to `dtype` (a new tensor, same shape). */
export function castActivations(ctx: GpuContext, x: Tensor, dtype: ActDType): Tensor {
  assertActivation(x, "castActivations");
  const out = Tensor.empty(ctx, x.shape, dtype, `${x.label} as ${dtype}`);
  VAE_OUTPUT.dispatch(ctx, {
    entry: "convert",
    variant: { in_t: actType(x.dtype), out_t: dtype },
    params: { count: x.numel, words: x.numel },
    bindings: { x: x.binding, y: out.binding },
    workgroups: VAE_OUTPUT.grid(ctx, x.numel),
  });
  return out;
}
