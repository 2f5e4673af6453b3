import { Tensor } from "../../src/gpu/tensor.ts";
import { eulerGuidedStep } from "../../src/ops/euler.ts";
import { eulerGuidedStepRef } from "../../src/ops/euler_ref.ts";
import { assert, assertRejects } from "../assert.ts";
import { actDTypes, assertClose, randn, relErr, roundF16, testGpu } from "../util.ts";

Deno.test("eulerGuidedStep updates z in place as the reference (f32 and f16 velocities)", async () => {
  const ctx = await testGpu();
  // 1000 and 70000 values: neither a multiple of the workgroup size.
  for (const n of [1000, 70_000]) {
    for (const dtype of actDTypes(ctx)) {
      for (const [g, dt] of [[7, 0.0229], [3, 0.0857], [-0.5, 0.31]]) {
        const z0 = randn(n, n + 1);
        const vc = randn(n, n + 2, 1.3), vu = randn(n, n + 3, 0.8);
        const [hc, hu] = dtype === "f16" ? [roundF16(vc), roundF16(vu)] : [vc, vu];
        const z = Tensor.fromF32(ctx, z0, [n / 8, 8], "f32", "z");
        const tc = Tensor.fromF32(ctx, vc, [n / 8, 8], dtype, "v_cond");
        const tu = Tensor.fromF32(ctx, vu, [n], dtype, "v_uncond");
        eulerGuidedStep(ctx, z, tc, tu, g, dt);
        const got = await z.toF32();
        const want = eulerGuidedStepRef(z0, hc, hu, g, dt);
        const what = `n ${n} ${dtype} g ${g} dt ${dt}`;
        assertClose(got, want, 1e-6, what);
        // The step itself (not just z, which it moves by a few percent) must match too.
        const step = got.map((v, i) => v - z0[i]), wantStep = want.map((v, i) => v - z0[i]);
        const e = relErr(step, wantStep);
        assert(e <= 1e-4, `${what}: update relative error ${e.toExponential(3)}`);
        for (const t of [z, tc, tu]) t.release();
      }
    }
  }
});

Deno.test("eulerGuidedStep: mixed velocity dtypes and a second step on the same z", async () => {
  const ctx = await testGpu();
  if (!ctx.features.f16) return;
  const n = 4099;
  const z0 = randn(n, 1), vc = randn(n, 2), vu = randn(n, 3);
  const z = Tensor.fromF32(ctx, z0, [n], "f32", "z");
  const tc = Tensor.fromF32(ctx, vc, [n], "f16", "v_cond");
  const tu = Tensor.fromF32(ctx, vu, [n], "f32", "v_uncond");
  eulerGuidedStep(ctx, z, tc, tu, 7, 0.05);
  eulerGuidedStep(ctx, z, tc, tu, 3, 0.1);
  let want = eulerGuidedStepRef(z0, roundF16(vc), vu, 7, 0.05);
  want = eulerGuidedStepRef(want, roundF16(vc), vu, 3, 0.1);
  assertClose(await z.toF32(), want, 1e-6, "two steps");
  for (const t of [z, tc, tu]) t.release();
});

Deno.test("eulerGuidedStep rejects mismatched or aliased tensors", async () => {
  const ctx = await testGpu();
  const z = Tensor.fromF32(ctx, randn(256, 1), [2, 128], "f32", "z");
  const v = Tensor.fromF32(ctx, randn(256, 2), [2, 128], "f32", "v");
  const short = Tensor.fromF32(ctx, randn(255, 3), [255], "f32", "short");
  const ints = Tensor.upload(ctx, new Int32Array(256), [256], "i32", "ints");
  await assertRejects(
    () => eulerGuidedStep(ctx, z, short, v, 7, 0.1),
    "'short' [255]",
    "255 values",
    "256",
  );
  await assertRejects(() => eulerGuidedStep(ctx, z, v, ints, 7, 0.1), "'ints'", "i32");
  await assertRejects(() => eulerGuidedStep(ctx, z, z, v, 7, 0.1), "shares the latent's buffer");
  await assertRejects(() => eulerGuidedStep(ctx, z, v, v, NaN, 0.1), "guidance NaN");
  await assertRejects(() => eulerGuidedStep(ctx, z, v, v, 7, Infinity), "dt Infinity");
  if (ctx.features.f16) {
    const zh = Tensor.fromF32(ctx, randn(256, 4), [256], "f16", "z16");
    await assertRejects(() => eulerGuidedStep(ctx, zh, v, v, 7, 0.1), "'z16'", "expected f32");
    zh.release();
  }
  for (const t of [z, v, short, ints]) t.release();
});
