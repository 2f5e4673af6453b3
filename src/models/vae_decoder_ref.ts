/**
 * CPU reference for `vae_decoder.ts`: the Flux2 KL decoder (spec §6) on
 * channels-last `[H, W, C]` f32 arrays, one whole image at a time, built from
 * the op references (f64 accumulation inside each op). Slow and plain on
 * purpose: it is what the GPU decoder, banded or not, is checked against.
 */
import { conv2dRef } from "../ops/conv2d_ref.ts";
import { groupNormRef } from "../ops/group_norm_ref.ts";
import { upsampleNearest2xRef } from "../ops/upsample_ref.ts";
import type { HostAttention, HostConv, HostResnet, VaeDecoderWeights } from "./vae_weights.ts";

/** A feature map: `[h, w, c]` values. */
interface MapRef {
  x: Float32Array;
  h: number;
  w: number;
  c: number;
}

function convRef(m: MapRef, k: HostConv, residual?: Float32Array): MapRef {
  const x = conv2dRef({
    x: m.x,
    h: m.h,
    w: m.w,
    weight: k.weight,
    weightShape: k.shape,
    bias: k.bias,
    residual,
  });
  return { x, h: m.h, w: m.w, c: k.shape[0] };
}

function normRef(
  m: MapRef,
  n: { gamma: Float32Array; beta: Float32Array },
  groups: number,
  eps: number,
  silu: boolean,
): MapRef {
  return { ...m, x: groupNormRef(m.x, m.c, groups, n.gamma, n.beta, eps, silu) };
}

function resnetRef(m: MapRef, r: HostResnet, groups: number, eps: number): MapRef {
  const h = convRef(normRef(m, r.norm1, groups, eps, true), r.conv1);
  const skip = r.shortcut ? convRef(m, r.shortcut).x : m.x;
  return convRef(normRef(h, r.norm2, groups, eps, true), r.conv2, skip);
}

/** `x + out(softmax(q kᵀ / sqrt(C)) v)` with q, k, v from the normalised map, one head. */
function attentionRef(m: MapRef, a: HostAttention, groups: number, eps: number): MapRef {
  const n = normRef(m, a.norm, groups, eps, false);
  const q = convRef(n, a.q).x, k = convRef(n, a.k).x, v = convRef(n, a.v).x;
  const L = m.h * m.w, C = m.c, scale = 1 / Math.sqrt(C);
  const o = new Float32Array(L * C);
  const s = new Float64Array(L), acc = new Float64Array(C);
  for (let i = 0; i < L; i++) {
    let max = -Infinity;
    for (let j = 0; j < L; j++) {
      let dot = 0;
      for (let c = 0; c < C; c++) dot += q[i * C + c] * k[j * C + c];
      s[j] = dot * scale;
      max = Math.max(max, s[j]);
    }
    let sum = 0;
    acc.fill(0);
    for (let j = 0; j < L; j++) {
      const p = Math.exp(s[j] - max);
      sum += p;
      for (let c = 0; c < C; c++) acc[c] += p * v[j * C + c];
    }
    for (let c = 0; c < C; c++) o[i * C + c] = acc[c] / sum;
  }
  return convRef({ ...m, x: o }, a.out, m.x);
}

/**
 * Decodes a VAE latent `[h, w, latentChannels]` (already denormalised and
 * unpatchified) to the float image `[h·f, w·f, outChannels]`, f = 2^(levels−1),
 * before clamping.
 */
export function vaeDecodeRef(
  weights: VaeDecoderWeights,
  latent: Float32Array,
  h: number,
  w: number,
): { pixels: Float32Array; height: number; width: number } {
  const c = weights.config, g = c.normGroups, eps = c.normEps;
  if (latent.length !== h * w * c.latentChannels) {
    throw new Error(
      `vaeDecodeRef: latent has ${latent.length} values, expected ${h}×${w}×${c.latentChannels}`,
    );
  }
  let m: MapRef = { x: latent, h, w, c: c.latentChannels };
  if (weights.postQuantConv) m = convRef(m, weights.postQuantConv);
  m = convRef(m, weights.convIn);
  m = resnetRef(m, weights.mid.resnets[0], g, eps);
  if (weights.mid.attention) m = attentionRef(m, weights.mid.attention, g, eps);
  m = resnetRef(m, weights.mid.resnets[1], g, eps);
  for (const block of weights.upBlocks) {
    for (const r of block.resnets) m = resnetRef(m, r, g, eps);
    if (block.upsample) {
      const up = { x: upsampleNearest2xRef(m.x, m.h, m.w, m.c), h: 2 * m.h, w: 2 * m.w, c: m.c };
      m = convRef(up, block.upsample);
    }
  }
  m = convRef(normRef(m, weights.normOut, g, eps, true), weights.convOut);
  return { pixels: m.x, height: m.h, width: m.w };
}
