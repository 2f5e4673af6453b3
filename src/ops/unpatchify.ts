/**
 * Latent tokens → VAE latent image (spec §6), in one kernel
 * (`shaders/unpatchify.wgsl`): undoes the per-channel latent normalisation
 * and the 2×2 patching. The result is channels-last `[2gh, 2gw, 32]`, what
 * `VaeDecoder.decode` takes. CPU reference: `unpatchify_ref.ts`.
 */
import unpatchifyWgsl from "../../shaders/unpatchify.wgsl" with { type: "text" };
import { type GpuContext, grid } from "../gpu/context.ts";
import { shapeStr, Tensor } from "../gpu/tensor.ts";

/**
 * Channels of one DiT latent token: 2×2 VAE latent pixels × 32 channels
 * (one 16×16 patch of the image). The one place this number is written.
 */
export const TOKEN_CHANNELS = 128;
/** Channels of the VAE latent a token unpacks into (the VAE config's `latentChannels`). */
const VAE_LATENT_CHANNELS = TOKEN_CHANNELS / 4;

const KERNEL = {
  name: "unpatchify",
  code: unpatchifyWgsl,
  params: true,
  storage: ["read", "read", "read_write"] as ("read" | "read_write")[],
};

/**
 * `z` `[gh·gw, 128]` f32 (row-major over the token grid) and `norm` `[2, 128]`
 * f32 (scale row, shift row) → a new f32 tensor `[2gh, 2gw, 32]` with
 * `out[2gy+py][2gx+px][c] = z[gy·gw+gx][k]·scale[k] + shift[k]`,
 * `k = (py·2+px)·32 + c`. The caller releases the result.
 */
export function unpatchifyLatents(
  ctx: GpuContext,
  z: Tensor,
  gh: number,
  gw: number,
  norm: Tensor,
): Tensor {
  const op = "unpatchifyLatents";
  if (!Number.isSafeInteger(gh) || !Number.isSafeInteger(gw) || gh < 1 || gw < 1) {
    throw new Error(`${op}: latent grid ${gh}×${gw} is not two positive integers`);
  }
  const zs = z.shape;
  if (
    z.dtype !== "f32" || zs.length !== 2 || zs[0] !== gh * gw || zs[1] !== TOKEN_CHANNELS
  ) {
    throw new Error(
      `${op}: latent '${z.label}' is ${shapeStr(zs)} ${z.dtype}; a ${gh}×${gw} grid needs ` +
        `[${gh * gw}, ${TOKEN_CHANNELS}] f32`,
    );
  }
  const ns = norm.shape;
  if (norm.dtype !== "f32" || ns.length !== 2 || ns[0] !== 2 || ns[1] !== TOKEN_CHANNELS) {
    throw new Error(
      `${op}: normalisation table '${norm.label}' is ${shapeStr(ns)} ${norm.dtype}; ` +
        `expected [2, ${TOKEN_CHANNELS}] f32 (scale, shift)`,
    );
  }
  const out = Tensor.empty(ctx, [2 * gh, 2 * gw, VAE_LATENT_CHANNELS], "f32", "vae latent");
  const count = z.numel;
  ctx.dispatch(KERNEL, {
    params: new Uint32Array([count, gw]),
    bindings: [z.binding, norm.binding, out.binding],
    workgroups: grid(ctx, Math.ceil(count / 256)),
  });
  return out;
}
