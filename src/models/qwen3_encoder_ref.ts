/**
 * CPU reference of the Qwen3-VL text encoder's feature forward (spec §3), in
 * plain TypeScript from dequantized weights, built from the ops' `_ref`
 * functions. Slow; meant for the tiny test checkpoints. Returns the features
 * `[L, 13 * hidden]` (feature `h * 13 + tap`) and each tap's hidden state.
 */
import { dequantizeRef, type HostLinear } from "../formats/mod.ts";
import { binaryRef } from "../ops/elementwise_ref.ts";
import { decodeTableRef, embeddingRef } from "../ops/embedding_ref.ts";
import { interleaveRef } from "../ops/interleave_ref.ts";
import { normRef } from "../ops/norm_ref.ts";
import { ropeRef, ropeTablesRef } from "../ops/rope_ref.ts";
import { QWEN3_TAP_LAYERS } from "./qwen3_config.ts";
import type { Qwen3HostWeights } from "./qwen3_weights.ts";

export interface Qwen3RefResult {
  /** `[L, taps * hidden]`, feature `h * taps + tap`. */
  features: Float32Array;
  /** Hidden state `[L, hidden]` after each tap layer, in tap order. */
  taps: Float32Array[];
}

/** `x [M, K] · Wᵀ` with `W` `[N, K]` row-major, f64 sums. */
function linearRef(x: Float32Array, w: HostLinear): Float32Array {
  const wf = dequantizeRef(w), K = w.in, N = w.out, M = x.length / K;
  const out = new Float32Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += x[m * K + k] * wf[n * K + k];
      out[m * N + n] = s;
    }
  }
  return out;
}

/** Causal grouped-query attention over `[L, H, D]` q and `[L, Hkv, D]` k/v, f64. */
function causalGqaRef(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  L: number,
  heads: number,
  kvHeads: number,
  d: number,
): Float32Array {
  const out = new Float32Array(L * heads * d), group = heads / kvHeads, scale = 1 / Math.sqrt(d);
  const scores = new Float64Array(L);
  for (let h = 0; h < heads; h++) {
    const kh = Math.floor(h / group);
    for (let i = 0; i < L; i++) {
      let max = -Infinity;
      for (let j = 0; j <= i; j++) {
        let s = 0;
        for (let c = 0; c < d; c++) s += q[(i * heads + h) * d + c] * k[(j * kvHeads + kh) * d + c];
        scores[j] = s * scale;
        max = Math.max(max, scores[j]);
      }
      let sum = 0;
      for (let j = 0; j <= i; j++) sum += scores[j] = Math.exp(scores[j] - max);
      for (let c = 0; c < d; c++) {
        let acc = 0;
        for (let j = 0; j <= i; j++) acc += scores[j] * v[(j * kvHeads + kh) * d + c];
        out[(i * heads + h) * d + c] = acc / sum;
      }
    }
  }
  return out;
}

/**
 * Runs decoder layers `0 … numLayers-1` on the embeddings of `ids` and calls
 * `onLayer(i, hidden)` after each; returns the last hidden state `[L, hidden]`.
 */
function runLayers(
  w: Qwen3HostWeights,
  ids: ArrayLike<number>,
  numLayers: number,
  onLayer: (i: number, hidden: Float32Array) => void = () => {},
): Float32Array {
  const c = w.config, L = ids.length, hid = c.hiddenSize, d = c.headDim, eps = c.rmsNormEps;
  if (numLayers > w.layers.length) {
    throw new Error(`qwen3 reference: ${numLayers} layers asked, ${w.layers.length} loaded`);
  }
  const table = decodeTableRef(w.embed.bytes, w.embed.dtype, c.vocabSize * hid);
  let x = embeddingRef(table, hid, ids);
  // Text only: all three MRoPE axes carry the token index.
  const positions = Int32Array.from({ length: 3 * L }, (_, i) => Math.floor(i / 3));
  const tables = ropeTablesRef(positions, d, c.ropeTheta, null);
  for (let i = 0; i < numLayers; i++) {
    const layer = w.layers[i];
    const n = normRef(x, hid, eps, { weight: layer.inputNorm });
    const q = ropeRef(linearRef(n, layer.q), tables, { heads: c.numHeads, headDim: d }, {
      weight: layer.qNorm,
      eps,
    });
    const k = ropeRef(linearRef(n, layer.k), tables, { heads: c.numKvHeads, headDim: d }, {
      weight: layer.kNorm,
      eps,
    });
    const v = linearRef(n, layer.v);
    const a = causalGqaRef(q, k, v, L, c.numHeads, c.numKvHeads, d);
    x = binaryRef("add", x, linearRef(a, layer.o));
    const m = normRef(x, hid, eps, { weight: layer.postNorm });
    const g = binaryRef("siluGate", linearRef(m, layer.gate), linearRef(m, layer.up));
    x = binaryRef("add", x, linearRef(g, layer.down));
    onLayer(i, x);
  }
  return x;
}

/** The hidden state `[L, hidden]` after decoder layers `0 … numLayers-1` (no final norm). */
export function qwen3HiddenRef(
  w: Qwen3HostWeights,
  ids: ArrayLike<number>,
  numLayers: number,
): Float32Array {
  return runLayers(w, ids, numLayers);
}

/** The features for token `ids` (batch 1). */
export function qwen3EncodeRef(w: Qwen3HostWeights, ids: ArrayLike<number>): Qwen3RefResult {
  const taps: Float32Array[] = [];
  const last = QWEN3_TAP_LAYERS[QWEN3_TAP_LAYERS.length - 1];
  runLayers(w, ids, last + 1, (i, x) => {
    if (QWEN3_TAP_LAYERS.includes(i)) taps.push(x);
  });
  return { features: interleaveRef(taps, w.config.hiddenSize), taps };
}
