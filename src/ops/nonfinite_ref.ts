/** CPU reference for `nonfinite.ts`. */

/** How many values of `x` are NaN or ±Inf. */
export function countNonFiniteRef(x: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i])) n++;
  return n;
}
