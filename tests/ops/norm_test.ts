import { Tensor } from "../../src/gpu/tensor.ts";
import { layerNorm, rmsNorm, rmsNormGatedResidual, rmsNormModulate } from "../../src/ops/norm.ts";
import { normRef } from "../../src/ops/norm_ref.ts";
import { assertRejects } from "../assert.ts";
import { actDTypes, assertClose, randn, roundF16, testGpu, TOL } from "../util.ts";

/** Random rows with a per-row offset, so LayerNorm's mean subtraction matters. */
function rowsWithMean(rows: number, cols: number, seed: number, scale = 1): Float32Array {
  const x = randn(rows * cols, seed, scale), m = randn(rows, seed + 1, 3);
  return x.map((v, i) => v + m[Math.floor(i / cols)]);
}

Deno.test("rmsNorm (with and without weight) and layerNorm match the CPU reference", async () => {
  const ctx = await testGpu();
  // cols 101 < 256 threads; cols 1037 makes each thread loop over several columns.
  for (const [rows, cols] of [[37, 101], [5, 1037]]) {
    for (const dtype of actDTypes(ctx)) {
      let x = rowsWithMean(rows, cols, 1);
      if (dtype === "f16") x = roundF16(x);
      const w = randn(cols, 3);
      const tx = Tensor.fromF32(ctx, x, [rows, cols], dtype), tw = Tensor.fromF32(ctx, w, [cols]);
      // eps 0.3 against values of size ~3 checks where eps goes (inside the sqrt).
      for (const eps of [1e-6, 0.3]) {
        const what = `${rows}x${cols} ${dtype} eps ${eps}`;
        const a = rmsNorm(ctx, tx, tw, eps);
        assertClose(
          await a.toF32(),
          normRef(x, cols, eps, { weight: w }),
          TOL[dtype],
          `rms ${what}`,
        );
        const b = rmsNorm(ctx, tx, undefined, eps);
        assertClose(await b.toF32(), normRef(x, cols, eps), TOL[dtype], `rms no weight ${what}`);
        const c = layerNorm(ctx, tx, eps);
        assertClose(
          await c.toF32(),
          normRef(x, cols, eps, { layer: true }),
          TOL[dtype],
          `ln ${what}`,
        );
        for (const t of [a, b, c]) t.release();
      }
      tx.release();
      tw.release();
    }
  }
});

Deno.test("fused AdaLN norms: modulate and gated residual match the CPU reference", async () => {
  const ctx = await testGpu();
  const [rows, cols] = [37, 101];
  for (const dtype of actDTypes(ctx)) {
    let x = rowsWithMean(rows, cols, 11), h = randn(rows * cols, 12);
    let s = randn(cols, 13), g = randn(cols, 14, 2);
    if (dtype === "f16") [x, h, s, g] = [x, h, s, g].map(roundF16);
    const w = randn(cols, 15);
    const tx = Tensor.fromF32(ctx, x, [rows, cols], dtype),
      th = Tensor.fromF32(ctx, h, [rows, cols], dtype);
    const ts = Tensor.fromF32(ctx, s, [cols], dtype), tg = Tensor.fromF32(ctx, g, [cols], dtype);
    const tw = Tensor.fromF32(ctx, w, [cols]);
    const checks: [string, Tensor, Float32Array][] = [
      [
        "rmsNormModulate",
        rmsNormModulate(ctx, tx, tw, ts, 1e-5),
        normRef(x, cols, 1e-5, { weight: w, scale: s }),
      ],
      [
        "rmsNormGatedResidual",
        rmsNormGatedResidual(ctx, th, tx, tw, tg, 1e-5),
        normRef(x, cols, 1e-5, { weight: w, residual: h, gate: g }),
      ],
      [
        "layerNorm * (1 + scale)",
        layerNorm(ctx, tx, 1e-6, ts),
        normRef(x, cols, 1e-6, { layer: true, scale: s }),
      ],
    ];
    for (const [what, got, want] of checks) {
      assertClose(await got.toF32(), want, TOL[dtype], `${what} ${dtype}`);
      got.release();
    }
    for (const t of [tx, th, ts, tg, tw]) t.release();
  }
});

Deno.test("norms reject weights and vectors of the wrong size or dtype", async () => {
  const ctx = await testGpu();
  const x = Tensor.fromF32(ctx, randn(60, 1), [6, 10], "f32", "x");
  const w9 = Tensor.fromF32(ctx, randn(9, 2), [9], "f32", "w9");
  await assertRejects(
    () => rmsNorm(ctx, x, w9, 1e-6),
    "rmsNorm",
    "'w9'",
    "[9] f32",
    "expected [10] f32",
  );
  const w10 = Tensor.fromF32(ctx, randn(10, 3), [10], "f32", "w10");
  if (ctx.features.f16) {
    const s16 = Tensor.fromF32(ctx, randn(10, 4), [10], "f16", "s16");
    await assertRejects(() => rmsNormModulate(ctx, x, w10, s16, 1e-6), "scale 's16'", "f16");
    s16.release();
  }
  for (const t of [x, w9, w10]) t.release();
});

Deno.test("norms over more rows than one grid dimension allows (2-D folded dispatch)", async () => {
  const ctx = await testGpu();
  // More rows than maxComputeWorkgroupsPerDimension (65535 here), like per-head norms of a
  // 4096-token DiT sequence (73728 rows). Tiny rows keep this fast on a software adapter.
  const rows = ctx.limits.maxComputeWorkgroupsPerDimension + 465, cols = 3;
  const x = randn(rows * cols, 21);
  const tx = Tensor.fromF32(ctx, x, [rows, cols]);
  const out = rmsNorm(ctx, tx, undefined, 1e-6);
  assertClose(await out.toF32(), normRef(x, cols, 1e-6), TOL.f32, `rmsNorm ${rows} rows`);
  tx.release();
  out.release();
});
