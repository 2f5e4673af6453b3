/**
 * Test helpers: one shared GPU context, seeded random data, relative error,
 * and the tolerance each precision allows.
 */
import { assert } from "./assert.ts";
import { GpuContext } from "../src/gpu/context.ts";
import { f16ToF32, f32ToF16 } from "../src/dtype.ts";
import type { ActDType } from "../src/ops/common.ts";

let shared: Promise<GpuContext> | undefined;

/** The test GPU context (default adapter), with output poisoning on. */
export function testGpu(): Promise<GpuContext> {
  shared ??= GpuContext.create().then((ctx) => {
    ctx.poisonOutputs = true;
    return ctx;
  });
  return shared;
}

/** Activation dtypes to test on this adapter: f32 always, f16 with `shader-f16`. */
export function actDTypes(ctx: GpuContext): ActDType[] {
  return ctx.features.f16 ? ["f32", "f16"] : ["f32"];
}

/** Relative error bound per activation precision. */
export const TOL: Record<ActDType, number> = { f32: 1e-4, f16: 5e-3 };

export { randn, rng } from "../src/tiny/random.ts";

/** ‖a − b‖ / ‖b‖; NaN anywhere in `a` gives Infinity. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i])) return Infinity;
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-300));
}

/** Asserts relative error within `tol`, with a message that says by how much. */
export function assertClose(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  tol: number,
  what: string,
) {
  const e = relErr(got, want);
  assert(e <= tol, `${what}: relative error ${e.toExponential(3)} > ${tol}`);
}

/** Rounds values through f16 so CPU references see the same inputs as an f16 kernel. */
export function roundF16(a: Float32Array): Float32Array {
  return a.map((v) => f16ToF32(f32ToF16(v)));
}
