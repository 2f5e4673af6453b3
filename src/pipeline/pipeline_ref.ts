/**
 * The whole pipeline on the CPU in plain TypeScript, from token ids to pixels,
 * built from each component's reference (Qwen3 encoder, DiT, Euler step,
 * unpatchify, VAE decoder, uint8 conversion). Tests run it on tiny
 * checkpoints to check `Ideogram4Pipeline` end to end with the same inputs.
 */
import type { DiTHostWeights } from "../models/dit_weights.ts";
import { ditForwardRef } from "../models/dit_ref.ts";
import type { Qwen3HostWeights } from "../models/qwen3_weights.ts";
import { qwen3EncodeRef } from "../models/qwen3_encoder_ref.ts";
import type { VaeDecoderWeights } from "../models/vae_weights.ts";
import { vaeDecodeRef } from "../models/vae_decoder_ref.ts";
import { eulerGuidedStepRef } from "../ops/euler_ref.ts";
import { toRgb8Ref } from "../ops/to_rgb8_ref.ts";
import { unpatchifyRef } from "../models/ops/unpatchify_ref.ts";
import { LATENT_NORM } from "./latents.ts";
import type { EulerStep } from "./schedule.ts";

export interface PipelineRefWeights {
  encoder: Qwen3HostWeights;
  cond: DiTHostWeights;
  uncond: DiTHostWeights;
  vae: VaeDecoderWeights;
}

export interface PipelineRefInputs {
  /** Token ids after the chat template. */
  ids: ArrayLike<number>;
  /** Initial noise `[gh·gw, 128]`. */
  noise: Float32Array;
  gh: number;
  gw: number;
  /** Euler steps in execution order (from `eulerSteps`). */
  steps: EulerStep[];
}

export interface PipelineRefResult {
  /** The final latent tokens `[gh·gw, 128]`, before decoding. */
  latents: Float32Array;
  /** `[16gh · 16gw · 3]` uint8 RGB. */
  rgb: Uint8Array;
}

export function generateRef(w: PipelineRefWeights, x: PipelineRefInputs): PipelineRefResult {
  const { features } = qwen3EncodeRef(w.encoder, x.ids);
  let z = x.noise.slice();
  for (const { t, s, guidance } of x.steps) {
    const vCond = ditForwardRef(w.cond, { latents: z, features, t, gh: x.gh, gw: x.gw });
    const vUncond = ditForwardRef(w.uncond, { latents: z, t, gh: x.gh, gw: x.gw });
    z = eulerGuidedStepRef(z, vCond, vUncond, guidance, s - t);
  }
  const latent = unpatchifyRef(z, x.gh, x.gw, LATENT_NORM.scale, LATENT_NORM.shift);
  const image = vaeDecodeRef(w.vae, latent, 2 * x.gh, 2 * x.gw);
  return { latents: z, rgb: toRgb8Ref(image.pixels) };
}
