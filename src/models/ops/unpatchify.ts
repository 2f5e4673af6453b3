/**
 * Latent tokens → VAE latent image (spec §6), in one kernel
 * (`shaders/unpatchify.wgsl`): undoes the per-channel latent normalisation
 * and the 2×2 patching. The result is channels-last `[2gh, 2gw, 32]`, what
 * `VaeDecoder.decode` takes. CPU reference: `unpatchify_ref.ts`.
 */
import unpatchifyWgsl from "../../../shaders/unpatchify.wgsl" with { type: "text" };
import type { GpuContext } from "../../gpu/context.ts";
import { declareKernel } from "../../gpu/declare_kernel.ts";
import { shapeStr, Tensor } from "../../gpu/tensor.ts";

/**
 * Channels of one DiT latent token: 2×2 VAE latent pixels × 32 channels
 * (one 16×16 patch of the image). The one place this number is written.
 */
export const TOKEN_CHANNELS = 128;
/** Channels of the VAE latent a token unpacks into (the VAE config's `latentChannels`). */
const VAE_LATENT_CHANNELS = TOKEN_CHANNELS / 4;

const UNPATCHIFY = /* @__PURE__ */ declareKernel({
  name: "unpatchify",
  source: unpatchifyWgsl,
  params: {
    count: "u32", // values in out = gh * gw * TOKEN_CHANNELS
    gw: "u32", // tokens per latent row
  },
  entries: {
    main: {
      z: "read array<f32>",
      norm: "read array<f32>", // [2, TOKEN_CHANNELS]: scale, shift
      out: "read_write array<f32>",
    },
  },
  workgroupSize: 256,
  consts: { TOKEN_CHANNELS, VAE_LATENT_CHANNELS },
});

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
  UNPATCHIFY.dispatch(ctx, {
    params: { count, gw },
    bindings: { z: z.binding, norm: norm.binding, out: out.binding },
    workgroups: UNPATCHIFY.grid(ctx, count),
  });
  return out;
}
