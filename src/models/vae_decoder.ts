/**
 * The Flux2 KL VAE decoder on WebGPU (spec §6): a channels-last latent
 * `[h, w, 32]` (denormalised and unpatchified) → `post_quant_conv` →
 * `conv_in` → mid block (resnet, single-head attention, resnet) → up blocks
 * (resnets, nearest ×2 + conv) → GroupNorm + SiLU → `conv_out` → the float
 * image `[8h, 8w, 3]`, and {@link VaeDecoder.decodeToRgb8} on to uint8 RGB.
 * CPU reference: `vae_decoder_ref.ts`.
 *
 * Large images, band by band. Every feature map is a {@link BandedMap}: one
 * tensor while the map fits a storage binding, else bands of rows sized per
 * resolution level so that a band plus two halo rows fits (`planBands`). Each
 * conv runs per output band on the rows it reads (`conv2dInputRows`, a 1-row
 * halo, or half of that under the fused ×2 upsample); each GroupNorm sums
 * its statistics over all bands first, then normalises (with SiLU) exactly
 * the rows the next conv reads, so the result is the whole-image result. The
 * banded and whole-image paths run the same kernels on the same values: they
 * agree exactly. `maxBindingBytes` lowers the band limit (tests use it to
 * exercise bands on tiny images). The attention alone works on the whole
 * latent-resolution map, which must fit the device's binding limit (at 2048²
 * it is 256 × 256 × 512 f32 = 128 MiB, WebGPU's default limit).
 *
 * Memory: maps are released as soon as nothing reads them, band by band
 * where possible (a conv frees its input's bands once no later output band
 * reads them; a resnet's skip band is freed once its output band is written).
 * GroupNorm needs a whole map's statistics before any of it is normalised, so
 * a resnet's input and its first conv's output are both resident at its peak
 * (at 2048² the top level's first resnet holds its 256-channel input and a
 * 128-channel map: 6 GiB in f32, 3 GiB in f16).
 *
 * Weights are uploaded once (reordered for the conv kernel, f16 with f16
 * activations); the attention's Linear projections run as 1×1 convs.
 */
import type { GpuContext } from "../gpu/context.ts";
import { shapeStr, Tensor } from "../gpu/tensor.ts";
import { Checkpoint } from "../io/checkpoint.ts";
import type { TensorStore } from "../io/tensor_store.ts";
import { attention } from "../ops/attention.ts";
import type { ActDType } from "../ops/common.ts";
import { conv2d, conv2dInputRows, type Conv2dWeight, uploadConv2dWeight } from "../ops/conv2d.ts";
import { groupNormApply, type GroupNormStats, groupNormStats } from "../ops/group_norm.ts";
import { castActivations, toRgb8 } from "../ops/to_rgb8.ts";
import { platform as currentPlatform } from "../platform/mod.ts";
import type { Platform } from "../platform/types.ts";
import { type Band, BandedMap, planBands, type RowRange } from "./vae_bands.ts";
import {
  type VaeDecoderConfig,
  vaeMidChannels,
  vaeScaleFactor,
  vaeUpBlocks,
} from "./vae_config.ts";
import {
  mapVaeDecoder,
  type VaeAttentionOf,
  vaeDecoderMembers,
  type VaeDecoderOf,
  type VaeResnetOf,
} from "./vae_layout.ts";
import {
  type HostConv,
  type HostGroupNorm,
  loadVaeDecoderWeights,
  vaeConfigFor,
  type VaeDecoderWeights,
} from "./vae_weights.ts";

/** File stem of the VAE's weights in a published checkpoint (spec §1). */
export const VAE_WEIGHTS_STEM = "diffusion_pytorch_model";

/** How a decode is split into row bands. */
export interface VaeDecodeOptions {
  /**
   * Largest activation tensor (bytes) before maps are cut into row bands.
   * Default and upper bound: the device's `maxStorageBufferBindingSize` (and
   * `maxBufferSize`). Lower values only change how the work is split.
   */
  maxBindingBytes?: number;
}

/** How {@link loadVaeDecoder} builds the decoder. */
export interface VaeDecoderOptions extends VaeDecodeOptions {
  /** Activation dtype (default f32; f16 needs `shader-f16`). */
  dtype?: ActDType;
  /** Conv weight storage; default: the activation dtype. */
  weightDtype?: ActDType;
  /** The config to use instead of the one read from the weights and `config.json`. */
  config?: VaeDecoderConfig;
  /** Default: the registered platform. */
  platform?: Platform;
}

interface GpuConv {
  w: Conv2dWeight;
  bias: Tensor;
}

interface GpuNorm {
  gamma: Tensor;
  beta: Tensor;
}

type GpuResnet = VaeResnetOf<GpuConv, GpuNorm>;
type GpuAttention = VaeAttentionOf<GpuConv, GpuNorm>;
type GpuWeights = VaeDecoderOf<GpuConv, GpuNorm>;

/** One conv over a banded map, per output band. */
interface ConvStep {
  conv: GpuConv;
  /** GroupNorm (+ SiLU) applied to the conv's input rows first. */
  norm?: { stats: GroupNormStats; p: GpuNorm; silu: boolean };
  /** Convolve the nearest ×2 upsampling of the input. */
  upsample?: boolean;
  /** Added to the output; a map at the output's size. */
  residual?: BandedMap;
  /** Release the input's bands once no later output band reads them. */
  consume?: boolean;
  /** Release the residual's bands once their output band is written. */
  consumeResidual?: boolean;
}

/**
 * The Flux2 VAE decoder on the GPU: latents → pixels, in row bands when the
 * maps exceed the device's binding limit. Made by {@link loadVaeDecoder}.
 *
 * @example
 * ```ts
 * import { createGpu, loadVaeDecoder, Tensor } from "@ideogram4/webgpu";
 *
 * const ctx = await createGpu();
 * const vae = await loadVaeDecoder(ctx, "/models/ideogram-4-nf4/vae");
 * const latent = Tensor.fromF32(ctx, new Float32Array(64 * 64 * 32), [64, 64, 32]);
 * const rgb = await vae.decodeToRgb8(latent); // 512 × 512 × 3 bytes
 * vae.release();
 * ```
 */
export class VaeDecoder {
  private released = false;

  private constructor(
    readonly ctx: GpuContext,
    readonly config: VaeDecoderConfig,
    readonly dtype: ActDType,
    private readonly w: GpuWeights,
    private readonly defaults: VaeDecodeOptions,
  ) {}

  /** Uploads host weights (e.g. from {@link loadVaeDecoderWeights}). */
  static fromWeights(
    ctx: GpuContext,
    weights: VaeDecoderWeights,
    opts: VaeDecoderOptions = {},
  ): VaeDecoder {
    const dtype = opts.dtype ?? "f32";
    const weightDtype = opts.weightDtype ?? dtype;
    if ((dtype === "f16" || weightDtype === "f16") && !ctx.features.f16) {
      throw new Error("VaeDecoder: f16 activations or weights need an adapter with shader-f16");
    }
    const conv = (c: HostConv): GpuConv => ({
      w: uploadConv2dWeight(ctx, { shape: c.shape, data: c.weight }, c.name, weightDtype),
      bias: Tensor.upload(ctx, c.bias, [c.bias.length], "f32", `${c.name}.bias`, true),
    });
    const norm = (n: HostGroupNorm): GpuNorm => ({
      gamma: Tensor.upload(ctx, n.gamma, [n.gamma.length], "f32", `${n.name}.weight`, true),
      beta: Tensor.upload(ctx, n.beta, [n.beta.length], "f32", `${n.name}.bias`, true),
    });
    const w: GpuWeights = mapVaeDecoder(weights, conv, norm, conv);
    return new VaeDecoder(ctx, weights.config, dtype, w, {
      maxBindingBytes: opts.maxBindingBytes,
    });
  }

  /** Image size for a latent of `h × w`. */
  outputSize(h: number, w: number): { height: number; width: number } {
    const f = vaeScaleFactor(this.config);
    return { height: h * f, width: w * f };
  }

  /**
   * The float image `[8h, 8w, 3]` (in the decoder's activation dtype, before
   * clamping) for a latent `[h, w, latentChannels]` (f32 or f16; not
   * modified, not released). Records the work without waiting; the caller
   * releases the result.
   */
  decode(latent: Tensor, opts: VaeDecodeOptions = {}): Tensor {
    if (this.released) throw new Error("VaeDecoder: decode() after release()");
    const { ctx, config: c, w } = this;
    const s = latent.shape;
    if (s.length !== 3 || s[2] !== c.latentChannels || !(s[0] > 0 && s[1] > 0)) {
      throw new Error(
        `VaeDecoder: latent '${latent.label}' is ${shapeStr(s)}; expected [h, w, ` +
          `${c.latentChannels}] (channels last)`,
      );
    }
    if (latent.dtype !== "f32" && latent.dtype !== "f16") {
      throw new Error(`VaeDecoder: latent '${latent.label}' is ${latent.dtype}; expected f32`);
    }
    const parts = this.bandPlan(s[0], s[1], opts);
    // Intermediates are released by scopes, maps band by band as convs consume them.
    return ctx.scope(() => {
      let x = latent.dtype === this.dtype
        ? BandedMap.whole(latent, false)
        : BandedMap.whole(castActivations(ctx, latent, this.dtype), true);
      if (w.postQuantConv) x = this.conv(x, parts[0], { conv: w.postQuantConv, consume: true });
      x = this.conv(x, parts[0], { conv: w.convIn, consume: true });
      x = this.resnet(x, w.mid.resnets[0], parts[0]);
      if (w.mid.attention) x = this.attention(x, w.mid.attention, parts[0]);
      x = this.resnet(x, w.mid.resnets[1], parts[0]);
      let level = 0;
      for (const block of w.upBlocks) {
        for (const r of block.resnets) x = this.resnet(x, r, parts[level]);
        if (block.upsample) {
          level++;
          x = this.conv(x, parts[level], { conv: block.upsample, upsample: true, consume: true });
        }
      }
      const rgb = this.normConv(x, parts[level], w.normOut, w.convOut, true);
      return rgb.gather(0, rgb.height, "vae image");
    });
  }

  /** Decodes and converts to uint8 RGB, `[H·W·3]` row-major (waits for the GPU). */
  async decodeToRgb8(latent: Tensor, opts: VaeRgb8Options = {}): Promise<Uint8Array> {
    const rgb = this.decodeRgb8(latent, opts);
    try {
      return await rgb.read() as Uint8Array;
    } finally {
      rgb.release();
    }
  }

  /**
   * {@link decodeToRgb8} without the wait: the uint8 RGB `[H·W·3]` on the
   * GPU, recorded; the caller reads and releases it.
   */
  decodeRgb8(latent: Tensor, opts: VaeRgb8Options = {}): Tensor {
    return this.ctx.scope(() => {
      const image = this.decode(latent, opts);
      opts.inspect?.(image);
      return toRgb8(this.ctx, image);
    });
  }

  /** Frees every GPU weight. Idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    const { convs, norms } = vaeDecoderMembers(this.w);
    for (const cv of convs) {
      cv.w.tensor.release();
      cv.bias.release();
    }
    for (const n of norms) {
      n.gamma.release();
      n.beta.release();
    }
  }

  /**
   * Row bands per resolution level (0 = latent) that {@link decode} uses for
   * a latent of `h × w`, each sized for the widest map of its level: level 0
   * holds the latent and the mid width, level k ≥ 1 the upsampled width of
   * block k−1 and the width of block k.
   */
  bandPlan(h: number, w: number, opts: VaeDecodeOptions = {}): RowRange[][] {
    const c = this.config, lim = this.ctx.limits;
    const limit = Math.min(
      opts.maxBindingBytes ?? this.defaults.maxBindingBytes ?? Infinity,
      lim.maxStorageBufferBindingSize,
      lim.maxBufferSize,
    );
    const bytes = this.dtype === "f16" ? 2 : 4;
    const widths = vaeUpBlocks(c).map((b) => b.resnets[b.resnets.length - 1].cout);
    return widths.map((cout, k) => {
      const channels = k === 0
        ? Math.max(c.latentChannels, vaeMidChannels(c), cout)
        : Math.max(widths[k - 1], cout);
      const rowBytes = (w << k) * channels * bytes;
      try {
        return planBands(h << k, rowBytes, limit);
      } catch (e) {
        throw new Error(
          `VaeDecoder: ${(w << k)}-pixel-wide maps of ${channels} channels at level ${k}: ` +
            (e instanceof Error ? e.message : e),
        );
      }
    });
  }

  /** GroupNorm statistics of a whole map, summed band by band. */
  private stats(x: BandedMap): GroupNormStats {
    let s: GroupNormStats | undefined;
    for (const b of x.bands) s = groupNormStats(this.ctx, b.tensor, this.config.normGroups, s);
    return s!;
  }

  /** One conv over `x`, computed per output band `parts`. */
  private conv(x: BandedMap, parts: readonly RowRange[], step: ConvStep): BandedMap {
    const { ctx } = this;
    const { w, bias } = step.conv;
    const up = !!step.upsample;
    const inputRows = (r: RowRange) => conv2dInputRows(w.kernel, x.height, r, up);
    const bands: Band[] = [];
    parts.forEach((rows, i) => {
      const [a, b] = inputRows(rows);
      const out = ctx.scope(() => {
        const n = step.norm;
        const input = n
          ? ctx.scope(() =>
            groupNormApply(
              ctx,
              x.gather(a, b, `${w.label} input`),
              n.stats,
              n.p.gamma,
              n.p.beta,
              this.config.normEps,
              { silu: n.silu },
            )
          )
          : x.gather(a, b, `${w.label} input`);
        const residual = step.residual?.gather(rows[0], rows[1], `${w.label} residual`);
        return conv2d(ctx, input, w, bias, {
          band: { inputRowOffset: a, imageHeight: x.height },
          outputRows: rows,
          upsample: up,
          residual,
        });
      });
      bands.push({ row0: rows[0], tensor: out, owned: true });
      if (step.consume) {
        x.releaseBefore(i + 1 < parts.length ? inputRows(parts[i + 1])[0] : Infinity);
      }
      if (step.consumeResidual) step.residual!.releaseBefore(rows[1]);
    });
    const [outH, outW] = up ? [2 * x.height, 2 * x.width] : [x.height, x.width];
    return new BandedMap(ctx, outH, outW, w.cout, this.dtype, bands);
  }

  /** `x + conv2(silu(gn2(conv1(silu(gn1(x))))))` (x through the 1×1 shortcut when widths differ). */
  private resnet(x: BandedMap, r: GpuResnet, parts: readonly RowRange[]): BandedMap {
    const h = this.normConv(x, parts, r.norm1, r.conv1, false);
    const skip = r.shortcut ? this.conv(x, parts, { conv: r.shortcut, consume: true }) : x;
    return this.normConv(h, parts, r.norm2, r.conv2, true, skip);
  }

  /**
   * `conv(silu(GroupNorm(x)))` (+ `residual`, whose bands are then consumed);
   * the statistics are released once the conv is recorded.
   */
  private normConv(
    x: BandedMap,
    parts: readonly RowRange[],
    p: GpuNorm,
    conv: GpuConv,
    consume: boolean,
    residual?: BandedMap,
  ): BandedMap {
    return this.ctx.pipe(
      () => this.stats(x),
      (stats) =>
        this.conv(x, parts, {
          conv,
          norm: { stats, p, silu: true },
          consume,
          residual,
          consumeResidual: !!residual,
        }),
    );
  }

  /**
   * `x + out(attention(q, k, v))` with one head over all `h·w` pixels and q,
   * k, v the 1×1 projections of GroupNorm(x) (no SiLU). Runs on the whole
   * map; the output projection and residual go back to `parts`.
   */
  private attention(x: BandedMap, a: GpuAttention, parts: readonly RowRange[]): BandedMap {
    const { ctx } = this;
    const [H, W, C] = [x.height, x.width, x.channels], L = H * W;
    return ctx.pipe(
      () => this.stats(x),
      (stats) => {
        const input = x.gather(0, H, "vae attention input");
        return groupNormApply(ctx, input, stats, a.norm.gamma, a.norm.beta, this.config.normEps);
      },
      (n) => [a.q, a.k, a.v].map((p) => conv2d(ctx, n, p.w, p.bias)),
      ([q, k, v]) =>
        attention(ctx, q.view([L, 1, C]), k.view([L, 1, C]), v.view([L, 1, C]), {
          scale: 1 / Math.sqrt(C),
        }),
      (o) => {
        const om = BandedMap.whole(o.view([H, W, C], o.dtype, 0, "vae attention"), false);
        return this.conv(om, parts, { conv: a.out, residual: x, consumeResidual: true });
      },
    );
  }
}

/** Options of {@link VaeDecoder.decodeToRgb8} and {@link VaeDecoder.decodeRgb8}. */
export interface VaeRgb8Options extends VaeDecodeOptions {
  /** Called with the float image `[H, W, 3]` before it is converted (e.g. to check it). */
  inspect?: (image: Tensor) => void;
}

/**
 * Loads the decoder from a `vae/` folder (`diffusion_pytorch_model.safetensors`
 * or an index, and an optional `config.json`) or from an open tensor store;
 * without `opts.config` the config is `vaeConfigFor` the weights (sizes from
 * the shapes, the rest from `config.json` or the Flux2 values). Reads only
 * the decoder's tensors, checks every shape, uploads, and closes what it opened.
 */
export async function loadVaeDecoder(
  ctx: GpuContext,
  source: string | TensorStore,
  opts: VaeDecoderOptions = {},
): Promise<VaeDecoder> {
  let store: TensorStore, owned: TensorStore | undefined;
  let configText: string | undefined, configPath: string | undefined;
  if (typeof source === "string") {
    const p = opts.platform ?? currentPlatform();
    configPath = p.join(source, "config.json");
    if (!opts.config && await p.exists(configPath)) configText = await p.readText(configPath);
    store = owned = await Checkpoint.open(source, { stem: VAE_WEIGHTS_STEM, platform: p });
  } else {
    store = source;
  }
  try {
    const config = opts.config ?? vaeConfigFor(store, configText, configPath);
    const host = await loadVaeDecoderWeights(store, config);
    return VaeDecoder.fromWeights(ctx, host, opts);
  } finally {
    owned?.close();
  }
}
