/**
 * The GPU work of a generation's sampling step and decode, in one place for
 * the two callers that must run it identically: {@link Ideogram4Pipeline}
 * on the device, and the memory planner (`memory_plan.ts`) on a shape-only
 * context, where the same allocations and releases in the same order give
 * the pool's real peak. Neither function waits or reads back.
 */
import type { GpuContext } from "../gpu/context.ts";
import type { Tensor } from "../gpu/tensor.ts";
import type { DiT } from "../models/dit.ts";
import type { VaeDecoder } from "../models/vae_decoder.ts";
import { eulerGuidedStep } from "../ops/euler.ts";
import { countNonFinite } from "../ops/nonfinite.ts";
import { unpatchifyLatents } from "../models/ops/unpatchify.ts";
import { latentNormTable } from "./latents.ts";
import type { EulerStep } from "./schedule.ts";

/**
 * One guided Euler step of the latents `z` (in place): both velocities, the
 * update, then `counters[slot] +=` the non-finite values of `z`.
 */
export function samplingStep(
  ctx: GpuContext,
  dits: { cond: DiT; uncond: DiT },
  z: Tensor,
  features: Tensor,
  grid: { gh: number; gw: number },
  step: EulerStep,
  counters: Tensor,
  slot: number,
): void {
  const { t, s, guidance } = step, { gh, gw } = grid;
  // z += (s - t) · guided velocity; both velocities are released with the scope.
  ctx.scope(() => {
    const vCond = dits.cond.forward(ctx, { latents: z, features, t, gh, gw });
    const vUncond = dits.uncond.forward(ctx, { latents: z, t, gh, gw });
    eulerGuidedStep(ctx, z, vCond, vUncond, guidance, s - t);
  });
  countNonFinite(ctx, z, counters, slot);
}

/**
 * Decodes the final latent tokens `z` (released here) to uint8 RGB
 * `[H·W·3]` on the GPU, counting the float image's non-finite values into
 * `counters[slot]`; the caller reads and releases the result.
 */
export function decodeLatents(
  ctx: GpuContext,
  vae: VaeDecoder,
  z: Tensor,
  grid: { gh: number; gw: number },
  counters: Tensor,
  slot: number,
): Tensor {
  return ctx.scope(() => {
    const latent = unpatchifyLatents(ctx, z, grid.gh, grid.gw, latentNormTable(ctx));
    z.release(); // the caller's: freed before the decode's peak, as the plan counts it
    return vae.decodeRgb8(latent, {
      inspect: (image) => countNonFinite(ctx, image, counters, slot),
    });
  });
}
