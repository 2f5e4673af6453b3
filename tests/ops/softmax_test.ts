import { Tensor } from "../../src/gpu/tensor.ts";
import { softmax } from "../../src/ops/softmax.ts";
import { softmaxRef } from "../../src/ops/softmax_ref.ts";
import { assert } from "../assert.ts";
import { actDTypes, assertClose, randn, roundF16, testGpu, TOL } from "../util.ts";

Deno.test("softmax over the last axis matches the CPU reference", async () => {
  const ctx = await testGpu();
  for (const [rows, cols] of [[37, 101], [3, 1037]]) {
    for (const dtype of actDTypes(ctx)) {
      let x = randn(rows * cols, 51, 3);
      if (dtype === "f16") x = roundF16(x);
      const tx = Tensor.fromF32(ctx, x, [rows, cols], dtype);
      for (const scale of [1, 0.0625]) {
        const out = softmax(ctx, tx, scale);
        const what = `softmax ${rows}x${cols} ${dtype} scale ${scale}`;
        assertClose(await out.toF32(), softmaxRef(x, cols, scale), TOL[dtype], what);
        out.release();
      }
      tx.release();
    }
  }
});

Deno.test("softmax is stable for large logits (no overflow to inf/NaN)", async () => {
  const ctx = await testGpu();
  // exp(1000) overflows f32 (and f64): only the max-subtracted form survives.
  const x = randn(4 * 33, 52, 3).map((v) => v + 1000);
  const tx = Tensor.fromF32(ctx, x, [4, 33]);
  const out = softmax(ctx, tx);
  const got = await out.toF32();
  assert(got.every(Number.isFinite), "softmax produced inf/NaN for logits near 1000");
  assertClose(got, softmaxRef(x, 33), TOL.f32, "softmax large logits");
  tx.release();
  out.release();
});
