import { Tensor } from "../../src/gpu/tensor.ts";
import { interleave, interleaveInto } from "../../src/ops/interleave.ts";
import { interleaveRef } from "../../src/ops/interleave_ref.ts";
import { assert, assertEquals, assertRejects } from "../assert.ts";
import { actDTypes, randn, roundF16, testGpu } from "../util.ts";

Deno.test("interleave puts the source index fastest and matches the CPU reference", async () => {
  const ctx = await testGpu();
  const [rows, cols, n] = [7, 37, 13];
  for (const dtype of actDTypes(ctx)) {
    const host = Array.from({ length: n }, (_, s) => {
      const v = randn(rows * cols, 100 + s);
      return dtype === "f16" ? roundF16(v) : v;
    });
    const srcs = host.map((v, s) => Tensor.fromF32(ctx, v, [rows, cols], dtype, `src${s}`));
    const out = interleave(ctx, srcs);
    assertEquals(out.shape, [rows, cols * n]);
    const got = await out.toF32();
    // Exact copy: the layout is the whole point, so compare bit for bit.
    assertEquals(Array.from(got), Array.from(interleaveRef(host, cols)), `interleave ${dtype}`);
    // By construction: column c*n + s of row r is source s at [r, c].
    assert(got[(3 * cols + 5) * n + 11] === host[11][3 * cols + 5], "spot check");
    for (const t of [...srcs, out]) t.release();
  }
});

Deno.test("interleaveInto rejects mismatched sizes and slots", async () => {
  const ctx = await testGpu();
  const src = Tensor.fromF32(ctx, randn(12, 1), [3, 4]);
  const out = Tensor.empty(ctx, [3, 4 * 5], "f32");
  await assertRejects(() => interleaveInto(ctx, out, src, 5, 5), "slot 5");
  const small = Tensor.empty(ctx, [3, 4 * 4], "f32");
  await assertRejects(() => interleaveInto(ctx, small, src, 0, 5), "does not hold");
  for (const t of [src, out, small]) t.release();
});
