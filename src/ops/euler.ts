/**
 * The sampler's update (spec §5): one fused kernel (`shaders/euler.wgsl`)
 * that mixes the conditional and unconditional velocities with the guidance
 * weight and takes the Euler step, in place on the latent. CPU reference:
 * `euler_ref.ts`.
 */
import eulerWgsl from "../../shaders/euler.wgsl" with { type: "text" };
import type { GpuContext } from "../gpu/context.ts";
import { declareKernel } from "../gpu/declare_kernel.ts";
import { shapeStr, type Tensor } from "../gpu/tensor.ts";
import { type ActDType, actType, assertActivation } from "./common.ts";

const EULER = /* @__PURE__ */ declareKernel({
  name: "euler",
  source: eulerWgsl,
  params: {
    count: "u32", // values in z
    g: "f32", // guidance weight of the conditional velocity
    one_minus_g: "f32", // 1 - g, rounded once on the CPU
    dt: "f32", // s - t
  },
  entries: {
    main: {
      v_cond: "read array<vc_t>",
      v_uncond: "read array<vu_t>",
      z: "read_write array<f32>",
    },
  },
  workgroupSize: 256,
  // The velocities' element types.
  variant: (v: { vc_t: ActDType; vu_t: ActDType }) => ({ aliases: v }),
});

/**
 * `z += (g·vCond + (1 - g)·vUncond) · dt`, in place. `z` is f32; the
 * velocities f32 or f16 with the same number of values (any shapes with
 * that count, e.g. `[tokens, 128]`), in buffers other than `z`'s.
 */
export function eulerGuidedStep(
  ctx: GpuContext,
  z: Tensor,
  vCond: Tensor,
  vUncond: Tensor,
  guidance: number,
  dt: number,
): void {
  const op = "eulerGuidedStep";
  if (z.dtype !== "f32") {
    throw new Error(`${op}: latent '${z.label}' ${shapeStr(z.shape)} is ${z.dtype}; expected f32`);
  }
  for (const v of [vCond, vUncond]) {
    assertActivation(v, op);
    if (v.numel !== z.numel) {
      throw new Error(
        `${op}: velocity '${v.label}' ${shapeStr(v.shape)} has ${v.numel} values; latent ` +
          `'${z.label}' ${shapeStr(z.shape)} has ${z.numel}`,
      );
    }
    if (v.buffer === z.buffer) {
      throw new Error(
        `${op}: velocity '${v.label}' shares the latent's buffer (z is updated in place)`,
      );
    }
  }
  for (const [what, x] of [["guidance", guidance], ["dt", dt]] as const) {
    if (!Number.isFinite(x)) throw new Error(`${op}: ${what} ${x} is not a finite number`);
  }
  if (z.numel === 0) return;
  EULER.dispatch(ctx, {
    variant: { vc_t: actType(vCond.dtype), vu_t: actType(vUncond.dtype) },
    params: { count: z.numel, g: guidance, one_minus_g: 1 - guidance, dt },
    bindings: { v_cond: vCond.binding, v_uncond: vUncond.binding, z: z.binding },
    workgroups: EULER.grid(ctx, z.numel),
  });
}
