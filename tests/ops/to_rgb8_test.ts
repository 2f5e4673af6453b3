import { Tensor } from "../../src/gpu/tensor.ts";
import { castActivations, toRgb8 } from "../../src/ops/to_rgb8.ts";
import { roundHalfEven, toRgb8Ref } from "../../src/ops/to_rgb8_ref.ts";
import { assertEquals } from "../assert.ts";
import { actDTypes, randn, roundF16, testGpu } from "../util.ts";

Deno.test("roundHalfEven rounds ties to even", () => {
  assertEquals([0.5, 1.5, 2.5, 127.5, 128.5, 2.4, 2.6].map(roundHalfEven), [
    0,
    2,
    2,
    128,
    128,
    2,
    3,
  ]);
});

Deno.test("toRgb8 matches the reference (clamp, ties to even, odd length)", async () => {
  const ctx = await testGpu();
  for (const dtype of actDTypes(ctx)) {
    // 1001 values: the last output word is partial. Edges and a tie included.
    const v = randn(1001, 5, 0.8);
    v.set([-1, 1, 0, -3, 3, -0.999, 0.999, 1 / 255, -1 / 255]);
    const host = dtype === "f16" ? roundF16(v) : v;
    const x = Tensor.fromF32(ctx, v, [1001], dtype, "y");
    const out = toRgb8(ctx, x);
    assertEquals(out.shape, [1001]);
    const got = await out.read() as Uint8Array;
    assertEquals(Array.from(got), Array.from(toRgb8Ref(host)), `toRgb8 ${dtype}`);
    assertEquals(Array.from(got.slice(0, 3)), [0, 255, 128]);
    x.release();
    out.release();
  }
});

Deno.test("castActivations converts between f32 and f16", async () => {
  const ctx = await testGpu();
  if (!ctx.features.f16) return;
  const v = randn(777, 6, 3);
  const x = Tensor.fromF32(ctx, v, [7, 111], "f32", "x");
  const h = castActivations(ctx, x, "f16");
  assertEquals([h.dtype, ...h.shape], ["f16", 7, 111]);
  assertEquals(Array.from(await h.toF32()), Array.from(roundF16(v)));
  const back = castActivations(ctx, h, "f32");
  assertEquals(Array.from(await back.toF32()), Array.from(roundF16(v)));
  for (const t of [x, h, back]) t.release();
});
