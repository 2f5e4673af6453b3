/**
 * CPU reference of the Ideogram 4 DiT's forward (spec §4), written from the
 * spec and the reference code's structure rather than from `dit.ts`: the
 * whole `[text | image]` sequence is built with the reference's masks
 * (image latents with zero text rows, features with zero image rows, each
 * projection multiplied by its mask after the bias, the indicator embedding
 * added separately), `qkv` is one Linear split afterwards, and the sinusoid,
 * MRoPE positions and tables are computed here. Linear / norm / rope /
 * attention arithmetic reuses the ops' f64 `_ref` functions. Slow; for the
 * tiny test checkpoints.
 */
import { bf16ToF32, f32ToBf16 } from "../dtype.ts";
import { attentionRef } from "../ops/attention_ref.ts";
import { binaryRef, unaryRef } from "../ops/elementwise_ref.ts";
import { linearRef } from "../ops/linear_ref.ts";
import { normRef } from "../ops/norm_ref.ts";
import type { RopeTables } from "../ops/rope.ts";
import { ropeRef } from "../ops/rope_ref.ts";
import type { DiTHostWeights, HostAffine } from "./dit_weights.ts";

export interface DiTRefInputs {
  /** `[gh·gw, inChannels]`. */
  latents: Float32Array;
  /** `[Ltxt, llmFeaturesDim]`; absent → unconditional pass. */
  features?: Float32Array;
  t: number;
  gh: number;
  gw: number;
}

export interface DiTRefOptions {
  /** Reproduce the bf16 reference's `t` and `inv_freq` rounding (default true, like `DiT`). */
  torchBf16?: boolean;
  /**
   * MRoPE position of image token (gy, gx); default `(65536, 65536 + gy, 65536 + gx)`.
   * Tests pass wrong mappings to show the right one matters.
   */
  imagePosition?: (gy: number, gx: number) => [number, number, number];
}

const roundBf16 = (v: number) => bf16ToF32(f32ToBf16(Math.fround(v)));

/** `[sin(s f_k)…, cos(s f_k)…]`, `f_k = 1e4^(-k/(half-1))`, `s = 1e4·t`. */
function timeSinusoid(t: number, dim: number, torchBf16: boolean): Float32Array {
  const s = torchBf16 ? Math.fround(1e4 * roundBf16(t)) : 1e4 * t;
  const half = dim / 2, out = new Float32Array(dim);
  for (let k = 0; k < half; k++) {
    const a = s * Math.pow(1e4, -k / (half - 1));
    out[k] = Math.sin(a);
    out[half + k] = Math.cos(a);
  }
  return out;
}

/**
 * Angles per token as the reference forms them: every frequency from axis 0,
 * then the strided slices `1, 4, … < 3·s1` from axis 1 and `2, 5, … < 3·s2`
 * from axis 2.
 */
function mropeTables(
  pos: number[][],
  headDim: number,
  theta: number,
  sections: readonly number[],
  torchBf16: boolean,
): RopeTables {
  const half = headDim / 2, tokens = pos.length;
  const inv = Array.from({ length: half }, (_, k) => {
    if (!torchBf16) return Math.pow(theta, (-2 * k) / headDim);
    // f32 `1 / theta ** (arange(0, D, 2) / D)`, then the module's cast to bf16.
    const f = Math.fround;
    return roundBf16(f(1 / f(Math.pow(theta, f((2 * k) / headDim)))));
  });
  const cos = new Float32Array(tokens * half), sin = new Float32Array(tokens * half);
  pos.forEach((p, t) => {
    const angle = (axis: number, k: number) => {
      const a = p[axis] * inv[k];
      return torchBf16 ? Math.fround(a) : a;
    };
    const row = inv.map((_, k) => angle(0, k));
    for (let k = 1; k < 3 * sections[1]; k += 3) row[k] = angle(1, k);
    for (let k = 2; k < 3 * sections[2]; k += 3) row[k] = angle(2, k);
    row.forEach((a, k) => {
      cos[t * half + k] = Math.cos(a);
      sin[t * half + k] = Math.sin(a);
    });
  });
  return { tokens, half, cos, sin };
}

const lin = (x: Float32Array, a: HostAffine) => linearRef(x, x.length / a.w.in, a.w, a.bias);

/** Multiplies row r of `x` (rows of `cols`) by `keep(r) ? 1 : 0`. */
function maskRows(x: Float32Array, cols: number, keep: (r: number) => boolean): Float32Array {
  return x.map((v, i) => keep(Math.floor(i / cols)) ? v : 0);
}

/** The velocity `[gh·gw, inChannels]` for one sample. */
export function ditForwardRef(
  w: DiTHostWeights,
  inp: DiTRefInputs,
  opts: DiTRefOptions = {},
): Float32Array {
  const c = w.config, e = c.embDim, H = c.numHeads, D = c.headDim, C = c.inChannels;
  const torchBf16 = opts.torchBf16 ?? true;
  const limg = inp.gh * inp.gw;
  const ltxt = inp.features ? inp.features.length / c.llmFeaturesDim : 0;
  const L = ltxt + limg;
  const isImage = (r: number) => r >= ltxt;
  if (inp.latents.length !== limg * C) throw new Error("ditForwardRef: latents size");

  // Inputs over the whole sequence, zero where the role does not apply.
  const x = new Float32Array(L * C);
  x.set(inp.latents, ltxt * C);
  let h = maskRows(lin(x, w.inputProj), e, isImage);
  if (inp.features) {
    if (!w.llmNorm || !w.llmProj) throw new Error("ditForwardRef: no text-conditioning weights");
    const feats = new Float32Array(L * c.llmFeaturesDim);
    feats.set(inp.features);
    const n = normRef(feats, c.llmFeaturesDim, 1e-6, { weight: w.llmNorm });
    h = binaryRef("add", h, maskRows(lin(n, w.llmProj), e, (r) => !isImage(r)));
  }
  const indicator = new Float32Array(L * e);
  for (let r = 0; r < L; r++) {
    const row = isImage(r) ? 1 : 0;
    indicator.set(w.indicator.subarray(row * e, (row + 1) * e), r * e);
  }
  h = binaryRef("add", h, indicator);

  // Time embedding → AdaLN input.
  const tEmb = lin(unaryRef("silu", lin(timeSinusoid(inp.t, e, torchBf16), w.tIn)), w.tOut);
  const a = unaryRef("silu", lin(tEmb, w.adaln));

  // MRoPE positions: text i → (i, i, i); image (gy, gx) → offset grid.
  const imagePos = opts.imagePosition ??
    ((gy: number, gx: number): [number, number, number] => [65536, 65536 + gy, 65536 + gx]);
  const pos: number[][] = [];
  for (let i = 0; i < ltxt; i++) pos.push([i, i, i]);
  for (let gy = 0; gy < inp.gh; gy++) {
    for (let gx = 0; gx < inp.gw; gx++) pos.push(imagePos(gy, gx));
  }
  const tables = mropeTables(pos, D, c.ropeTheta, c.mropeSection, torchBf16);

  const eps = c.normEps;
  for (const l of w.layers) {
    const mod = lin(a, l.mod);
    const [sMsa, gMsa, sMlp, gMlp] = [0, 1, 2, 3].map((i) => mod.subarray(i * e, (i + 1) * e));
    const n1 = normRef(h, e, eps, { weight: l.attnNorm1, scale: sMsa });
    const qkv = linearRef(n1, L, l.qkv);
    const layout = (part: number) => ({ heads: H, headDim: D, rowStride: 3 * e, offset: part * e });
    const q = ropeRef(qkv, tables, layout(0), { weight: l.normQ, eps: 1e-5 });
    const k = ropeRef(qkv, tables, layout(1), { weight: l.normK, eps: 1e-5 });
    const v = new Float32Array(L * e);
    for (let r = 0; r < L; r++) v.set(qkv.subarray(r * 3 * e + 2 * e, (r + 1) * 3 * e), r * e);
    const att = attentionRef(q, k, v, L, L, H, H, D);
    const o = linearRef(att, L, l.o);
    h = normRef(o, e, eps, { weight: l.attnNorm2, residual: h, gate: gMsa });
    const n2 = normRef(h, e, eps, { weight: l.ffnNorm1, scale: sMlp });
    const gu = binaryRef("siluGate", linearRef(n2, L, l.w1), linearRef(n2, L, l.w3));
    h = normRef(linearRef(gu, L, l.w2), e, eps, { weight: l.ffnNorm2, residual: h, gate: gMlp });
  }

  const fm = lin(unaryRef("silu", a), w.finalMod);
  const out = lin(normRef(h, e, 1e-6, { layer: true, scale: fm }), w.finalLinear);
  return out.slice(ltxt * C);
}
