import { Tensor } from "../../src/gpu/tensor.ts";
import { upsampleNearest2x } from "../../src/ops/upsample.ts";
import { upsampleNearest2xRef } from "../../src/ops/upsample_ref.ts";
import { assertEquals, assertRejects } from "../assert.ts";
import { actDTypes, randn, roundF16, testGpu } from "../util.ts";

Deno.test("upsampleNearest2x copies each pixel to a 2×2 block exactly", async () => {
  const ctx = await testGpu();
  const [h, w, c] = [5, 7, 3];
  for (const dtype of actDTypes(ctx)) {
    let x = randn(h * w * c, 1);
    if (dtype === "f16") x = roundF16(x);
    const tx = Tensor.fromF32(ctx, x, [h, w, c], dtype);
    const o = upsampleNearest2x(ctx, tx);
    assertEquals(o.shape, [2 * h, 2 * w, c]);
    const got = await o.toF32();
    const want = upsampleNearest2xRef(x, h, w, c);
    const bad = got.findIndex((v, i) => v !== want[i]);
    assertEquals(bad, -1, `${dtype}: first differing element`);
    tx.release();
    o.release();
  }
  const flat = Tensor.fromF32(ctx, randn(12, 2), [12]);
  await assertRejects(() => upsampleNearest2x(ctx, flat), "[12]", "[H, W, C]");
  flat.release();
});
