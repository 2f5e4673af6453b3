import { Tensor } from "../../src/gpu/tensor.ts";
import { countNonFinite, nonFiniteCounters } from "../../src/ops/nonfinite.ts";
import { countNonFiniteRef } from "../../src/ops/nonfinite_ref.ts";
import { assertEquals, assertRejects } from "../assert.ts";
import { actDTypes, randn, rng, roundF16, testGpu } from "../util.ts";

/** Random values with NaN, +Inf and -Inf at random places, and extreme finite ones. */
function withBadValues(n: number, seed: number, bad: number, big: number): Float32Array {
  const x = randn(n, seed, 3);
  const r = rng(seed + 1);
  for (let k = 0; k < bad; k++) {
    x[Math.floor(r() * n)] = [NaN, Infinity, -Infinity][k % 3];
  }
  // Largest finite values and subnormals are finite: never counted.
  for (let k = 0; k < 5; k++) x[Math.floor(r() * n)] = k % 2 ? big : -1e-40;
  return x;
}

Deno.test("countNonFinite counts NaN and ±Inf as the reference (f32, f16; slots add up)", async () => {
  const ctx = await testGpu();
  // 1 value, odd counts, and more values than one dispatch's invocations (1024·256).
  for (const n of [1, 4097, 300_001]) {
    for (const dtype of actDTypes(ctx)) {
      for (const bad of [0, 1, 37]) {
        const big = dtype === "f16" ? 65504 : 3.4e38;
        const x = withBadValues(n, n + bad, bad, big);
        const host = dtype === "f16" ? roundF16(x) : x;
        const want = countNonFiniteRef(host);
        const t = Tensor.fromF32(ctx, x, [n], dtype, "x");
        const counters = nonFiniteCounters(ctx, 3);
        countNonFinite(ctx, t, counters, 1);
        countNonFinite(ctx, t, counters, 2);
        countNonFinite(ctx, t, counters, 2);
        const got = [...await counters.read() as Uint32Array];
        assertEquals(got, [0, want, 2 * want], `n ${n} ${dtype} bad ${bad}`);
        t.release();
        counters.release();
      }
    }
  }
});

Deno.test("countNonFinite: an f16 tensor's padding half is not counted", async () => {
  const ctx = await testGpu();
  if (!ctx.features.f16) return;
  const x = randn(6, 5);
  x[5] = NaN; // the 6th value; a view of 5 values leaves it as the last word's padding
  const t = Tensor.fromF32(ctx, x, [6], "f16", "x");
  const counters = nonFiniteCounters(ctx, 1);
  countNonFinite(ctx, t.view([5]), counters, 0);
  assertEquals([...await counters.read() as Uint32Array], [0]);
  countNonFinite(ctx, t, counters, 0);
  assertEquals([...await counters.read() as Uint32Array], [1]);
  t.release();
  counters.release();
});

Deno.test("countNonFinite rejects integer tensors and bad slots", async () => {
  const ctx = await testGpu();
  const ints = Tensor.upload(ctx, new Int32Array(8), [8], "i32", "ints");
  const x = Tensor.fromF32(ctx, randn(8, 1), [8], "f32", "x");
  const counters = nonFiniteCounters(ctx, 2);
  await assertRejects(() => countNonFinite(ctx, ints, counters, 0), "'ints'", "i32");
  await assertRejects(() => countNonFinite(ctx, x, counters, 2), "slot 2", "[2]");
  for (const t of [ints, x, counters]) t.release();
});
