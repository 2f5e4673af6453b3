/**
 * The sampler's update (spec §5): one fused kernel (`shaders/euler.wgsl`)
 * that mixes the conditional and unconditional velocities with the guidance
 * weight and takes the Euler step, in place on the latent. CPU reference:
 * `euler_ref.ts`.
 */
import eulerWgsl from "../../shaders/euler.wgsl" with { type: "text" };
import { type GpuContext, grid } from "../gpu/context.ts";
import { shapeStr, type Tensor } from "../gpu/tensor.ts";
import { composeWgsl } from "../gpu/wgsl.ts";
import { actType, assertActivation } from "./common.ts";

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
  const vc = actType(vCond.dtype), vu = actType(vUncond.dtype);
  const params = new ArrayBuffer(16);
  new Uint32Array(params, 0, 1)[0] = z.numel;
  new Float32Array(params, 4, 3).set([guidance, 1 - guidance, dt]);
  ctx.dispatch({
    name: `euler_${vc}_${vu}`,
    code: composeWgsl({
      f16: vc === "f16" || vu === "f16",
      aliases: { vc_t: vc, vu_t: vu },
    }, eulerWgsl),
    params: true,
    storage: ["read", "read", "read_write"],
  }, {
    params: new Uint8Array(params),
    bindings: [vCond.binding, vUncond.binding, z.binding],
    workgroups: grid(ctx, Math.ceil(z.numel / 256)),
  });
}
