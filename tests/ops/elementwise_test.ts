import { Tensor } from "../../src/gpu/tensor.ts";
import { binary, BINARY_OPS, gatedResidual, unary, UNARY_OPS } from "../../src/ops/elementwise.ts";
import { binaryRef, gatedResidualRef, unaryRef } from "../../src/ops/elementwise_ref.ts";
import { assertRejects } from "../assert.ts";
import { actDTypes, assertClose, randn, roundF16, testGpu, TOL } from "../util.ts";

Deno.test("elementwise binary ops with broadcasting match the CPU reference", async () => {
  const ctx = await testGpu();
  const [M, N] = [37, 101];
  for (const dtype of actDTypes(ctx)) {
    for (const op of BINARY_OPS) {
      // b full-size, b broadcast along rows ([N]), b broadcast along columns ([M] with bDiv = N).
      for (const [bLen, bDiv] of [[M * N, 1], [N, 1], [M, N]]) {
        let a = randn(M * N, 11), b = randn(bLen, 12);
        if (dtype === "f16") [a, b] = [roundF16(a), roundF16(b)];
        const ta = Tensor.fromF32(ctx, a, [M, N], dtype),
          tb = Tensor.fromF32(ctx, b, [bLen], dtype);
        const out = binary(ctx, op, ta, tb, bDiv);
        assertClose(
          await out.toF32(),
          binaryRef(op, a, b, bDiv),
          TOL[dtype],
          `${op} ${dtype} b=${bLen}/${bDiv}`,
        );
        for (const t of [ta, tb, out]) t.release();
      }
    }
  }
});

Deno.test("elementwise unary ops match the CPU reference", async () => {
  const ctx = await testGpu();
  for (const dtype of actDTypes(ctx)) {
    for (const op of UNARY_OPS) {
      let a = randn(1234, 21, 3);
      if (dtype === "f16") a = roundF16(a);
      const ta = Tensor.fromF32(ctx, a, [1234], dtype);
      const out = unary(ctx, op, ta);
      assertClose(await out.toF32(), unaryRef(op, a), TOL[dtype], `${op} ${dtype}`);
      ta.release();
      out.release();
    }
  }
});

Deno.test("gated residual h + tanh(gate) * y matches the CPU reference", async () => {
  const ctx = await testGpu();
  const [M, N] = [37, 101];
  for (const dtype of actDTypes(ctx)) {
    // gate per column ([N]) as in the DiT, and per row ([M], gateDiv = N).
    for (const [gLen, gDiv] of [[N, 1], [M, N]]) {
      let h = randn(M * N, 31), y = randn(M * N, 32), g = randn(gLen, 33, 2);
      if (dtype === "f16") [h, y, g] = [roundF16(h), roundF16(y), roundF16(g)];
      const th = Tensor.fromF32(ctx, h, [M, N], dtype),
        ty = Tensor.fromF32(ctx, y, [M, N], dtype),
        tg = Tensor.fromF32(ctx, g, [gLen], dtype);
      const out = gatedResidual(ctx, th, ty, tg, gDiv);
      assertClose(
        await out.toF32(),
        gatedResidualRef(h, y, g, gDiv),
        TOL[dtype],
        `gatedResidual ${dtype} gate=${gLen}/${gDiv}`,
      );
      for (const t of [th, ty, tg, out]) t.release();
    }
  }
});

Deno.test("elementwise ops reject operands that do not broadcast", async () => {
  const ctx = await testGpu();
  const a = Tensor.fromF32(ctx, randn(12, 1), [3, 4]), b = Tensor.fromF32(ctx, randn(5, 2), [5]);
  await assertRejects(() => binary(ctx, "add", a, b), "'tensor' (5 elements");
  await assertRejects(() => gatedResidual(ctx, a, a, b), "gate", "does not broadcast");
  a.release();
  b.release();
});
