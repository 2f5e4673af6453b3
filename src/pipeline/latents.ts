/**
 * The per-channel latent normalisation the DiT's tokens are undone with
 * before VAE decoding (spec §6): `z_vae[k] = z[k]·scale[k] + shift[k]` for
 * the 128 token channels `k = (py·2 + px)·32 + c`. Values: `latent_norm.json`
 * (a copy of the spec's file).
 */
import type { GpuContext } from "../gpu/context.ts";
import { Tensor } from "../gpu/tensor.ts";
import { TOKEN_CHANNELS } from "../models/ops/unpatchify.ts";
import latentNormJson from "./latent_norm.json" with { type: "json" };

function channels(key: "scale" | "shift"): Float32Array {
  const v: unknown = (latentNormJson as Record<string, unknown>)[key];
  if (
    !Array.isArray(v) || v.length !== TOKEN_CHANNELS ||
    v.some((x) => typeof x !== "number" || !Number.isFinite(x))
  ) {
    throw new Error(`latent_norm.json: '${key}' must be ${TOKEN_CHANNELS} finite numbers`);
  }
  return Float32Array.from(v as number[]);
}

export const LATENT_NORM: { scale: Float32Array; shift: Float32Array } = {
  scale: channels("scale"),
  shift: channels("shift"),
};

const tables = new WeakMap<GpuContext, Tensor>();

/**
 * `[2, 128]` f32 on the GPU: row 0 scale, row 1 shift. Uploaded once per
 * context and OWNED BY THE CONTEXT: callers must not release it (if one
 * does, the next call uploads it again rather than hand out a dead tensor).
 */
export function latentNormTable(ctx: GpuContext): Tensor {
  let t = tables.get(ctx);
  if (!t || t.released) {
    const data = new Float32Array(2 * TOKEN_CHANNELS);
    data.set(LATENT_NORM.scale, 0);
    data.set(LATENT_NORM.shift, TOKEN_CHANNELS);
    t = Tensor.upload(ctx, data, [2, TOKEN_CHANNELS], "f32", "latent norm", true);
    tables.set(ctx, t);
  }
  return t;
}
