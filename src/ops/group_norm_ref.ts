/**
 * CPU reference for `group_norm.ts`, in f64 arithmetic (two passes: mean,
 * then the biased variance), on channels-last `[pixels, C]` values.
 */

export interface GroupMomentsRef {
  mean: Float64Array;
  variance: Float64Array;
}

/** Per-group mean and biased variance over all pixels. */
export function groupNormStatsRef(
  x: Float32Array,
  channels: number,
  groups: number,
): GroupMomentsRef {
  const cpg = channels / groups;
  const count = (x.length / channels) * cpg;
  const mean = new Float64Array(groups), variance = new Float64Array(groups);
  for (let i = 0; i < x.length; i++) mean[Math.floor((i % channels) / cpg)] += x[i];
  for (let g = 0; g < groups; g++) mean[g] /= count;
  for (let i = 0; i < x.length; i++) {
    const g = Math.floor((i % channels) / cpg);
    variance[g] += (x[i] - mean[g]) ** 2;
  }
  for (let g = 0; g < groups; g++) variance[g] /= count;
  return { mean, variance };
}

/** `(x - mean) / sqrt(var + eps) * gamma + beta`, then SiLU when asked. */
export function groupNormRef(
  x: Float32Array,
  channels: number,
  groups: number,
  gamma: Float32Array,
  beta: Float32Array,
  eps: number,
  silu = false,
): Float32Array {
  const { mean, variance } = groupNormStatsRef(x, channels, groups);
  const cpg = channels / groups;
  return x.map((v, i) => {
    const c = i % channels, g = Math.floor(c / cpg);
    const y = (v - mean[g]) / Math.sqrt(variance[g] + eps) * gamma[c] + beta[c];
    return silu ? y / (1 + Math.exp(-y)) : y;
  });
}
