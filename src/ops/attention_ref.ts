/** CPU reference for `attention.ts`: a plain two-pass softmax per query, in f64. */

export interface AttentionRefOptions {
  /** Key j is visible to query i iff `j <= i + (Lk - Lq)`. */
  causal?: boolean;
  /** Default `1 / sqrt(D)`. */
  scale?: number;
}

/**
 * q `[Lq, Hq, D]`, k and v `[Lk, Hkv, D]` row-major; query head h uses kv head
 * `floor(h / (Hq / Hkv))`. Returns `[Lq, Hq, D]`. A query with no visible key
 * gets a zero row.
 */
export function attentionRef(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  Lq: number,
  Lk: number,
  Hq: number,
  Hkv: number,
  D: number,
  opts: AttentionRefOptions = {},
): Float32Array {
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  const group = Hq / Hkv;
  const out = new Float32Array(Lq * Hq * D);
  const scores = new Float64Array(Lk);
  const acc = new Float64Array(D);
  for (let h = 0; h < Hq; h++) {
    const hk = Math.floor(h / group);
    for (let i = 0; i < Lq; i++) {
      const visible = opts.causal ? Math.min(Lk, Math.max(0, i + (Lk - Lq) + 1)) : Lk;
      if (visible === 0) continue;
      const qo = (i * Hq + h) * D;
      let max = -Infinity;
      for (let j = 0; j < visible; j++) {
        const ko = (j * Hkv + hk) * D;
        let dot = 0;
        for (let d = 0; d < D; d++) dot += q[qo + d] * k[ko + d];
        scores[j] = dot * scale;
        max = Math.max(max, scores[j]);
      }
      let sum = 0;
      acc.fill(0);
      for (let j = 0; j < visible; j++) {
        const w = Math.exp(scores[j] - max);
        sum += w;
        const vo = (j * Hkv + hk) * D;
        for (let d = 0; d < D; d++) acc[d] += w * v[vo + d];
      }
      for (let d = 0; d < D; d++) out[qo + d] = acc[d] / sum;
    }
  }
  return out;
}
