import { Tensor } from "../../src/gpu/tensor.ts";
import {
  binary,
  BINARY_OPS,
  type BinaryOp,
  unary,
  type UnaryOp,
} from "../../src/ops/elementwise.ts";
import { binaryRef, unaryRef } from "../../src/ops/elementwise_ref.ts";
import { actDTypes, assertClose, randn, roundF16, testGpu, TOL } from "../util.ts";

Deno.test("elementwise binary ops with broadcasting match the CPU reference", async () => {
  const ctx = await testGpu();
  const [M, N] = [37, 101];
  for (const dtype of actDTypes(ctx)) {
    for (const op of Object.keys(BINARY_OPS) as BinaryOp[]) {
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
    for (const op of ["silu", "tanh"] as UnaryOp[]) {
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
