/** CPU reference for `euler.ts`. */

/**
 * `z + (g·vCond + (1 - g)·vUncond) · dt` as a new array: float64 arithmetic,
 * rounded once to f32 as the GPU latent is stored.
 */
export function eulerGuidedStepRef(
  z: ArrayLike<number>,
  vCond: ArrayLike<number>,
  vUncond: ArrayLike<number>,
  guidance: number,
  dt: number,
): Float32Array<ArrayBuffer> {
  if (vCond.length !== z.length || vUncond.length !== z.length) {
    throw new Error(`eulerGuidedStepRef: ${z.length}, ${vCond.length}, ${vUncond.length} values`);
  }
  const out = new Float32Array(z.length);
  for (let i = 0; i < z.length; i++) {
    out[i] = z[i] + (guidance * vCond[i] + (1 - guidance) * vUncond[i]) * dt;
  }
  return out;
}
