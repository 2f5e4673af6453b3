/**
 * The load probe of `deno task bench --loads` (src/bench/gemm_probe.ts): with
 * both operands read it is a plain GEMM, checked against the CPU reference on
 * random inputs at shapes that end inside a register block; each other variant
 * really leaves its operand out (its output differs and stays finite).
 */
import { Tensor } from "../../src/gpu/tensor.ts";
import { gemmProbe, PROBE_LOADS, type ProbeOperands } from "../../src/bench/gemm_probe.ts";
import type { DenseHostLinear } from "../../src/formats/dense.ts";
import { linearRef } from "../../src/ops/linear_ref.ts";
import { assert } from "../assert.ts";
import { assertClose, randn, relErr, testGpu } from "../util.ts";

for (const [m, n, k] of [[1, 9, 4], [11, 300, 36], [16, 256, 128]]) {
  Deno.test(`gemm probe: reading X and W is Y = X·Wᵀ (${m}x${n}x${k})`, async () => {
    const ctx = await testGpu();
    const xs = randn(m * k, 1), ws = randn(n * k, 2);
    const o: ProbeOperands = {
      m,
      n,
      k,
      x: Tensor.fromF32(ctx, xs, [m, k], "f32", "x"),
      w: Tensor.fromF32(ctx, ws, [n, k], "f32", "w"),
      y: Tensor.empty(ctx, [m, n], "f32", "y"),
    };
    try {
      gemmProbe(ctx, o, "x and w");
      const dense: DenseHostLinear = {
        format: "dense",
        dtype: "f32",
        out: n,
        in: k,
        bytes: new Uint8Array(ws.buffer),
      };
      const want = linearRef(xs, m, dense);
      assertClose(await o.y.toF32(), want, 1e-5, "probe x and w");
      for (const loads of PROBE_LOADS.filter((l) => l !== "x and w")) {
        gemmProbe(ctx, o, loads);
        const got = await o.y.toF32();
        assert(got.every(Number.isFinite), `probe ${loads}: non-finite output`);
        assert(relErr(got, want) > 1e-2, `probe ${loads}: output equals the full GEMM's`);
      }
    } finally {
      for (const t of [o.x, o.w, o.y]) t.release();
    }
  });
}

Deno.test("gemm probe: K not a multiple of 4 is refused", async () => {
  const ctx = await testGpu();
  const x = Tensor.empty(ctx, [2, 6], "f32", "x");
  try {
    let msg = "";
    try {
      gemmProbe(ctx, { m: 2, n: 2, k: 6, x, w: x, y: x }, "none");
    } catch (e) {
      msg = String(e);
    }
    assert(msg.includes("K = 6"), `expected a K error, got '${msg}'`);
  } finally {
    x.release();
  }
});
