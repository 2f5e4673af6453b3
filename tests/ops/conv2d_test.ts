import { Tensor } from "../../src/gpu/tensor.ts";
import {
  conv2d,
  conv2dInputRows,
  type Conv2dWeight,
  type ConvKernelSize,
  type ConvTile,
  convTileChannels,
  uploadConv2dWeight,
} from "../../src/ops/conv2d.ts";
import { conv2dRef } from "../../src/ops/conv2d_ref.ts";
import { upsampleNearest2xRef } from "../../src/ops/upsample_ref.ts";
import { f32ToBf16, f32ToF16 } from "../../src/dtype.ts";
import type { GpuContext } from "../../src/gpu/context.ts";
import { assert, assertEquals, assertRejects, assertThrows } from "../assert.ts";
import { actDTypes, assertClose, randn, relErr, roundF16, testGpu, TOL } from "../util.ts";

interface Case {
  h: number;
  w: number;
  cin: number;
  cout: number;
  k: ConvKernelSize;
}

/** Pixel tiles the sweeps run: every pixels-per-thread count, every thread count. */
const TILES: ConvTile[] = [
  { threads: 64, pixelsPerThread: 1 },
  { threads: 32, pixelsPerThread: 2 },
  { threads: 64, pixelsPerThread: 4 },
  { threads: 16, pixelsPerThread: 8 },
  { threads: 64, pixelsPerThread: 8 },
];

function weightShape(c: Case): [number, number, number, number] {
  return [c.cout, c.cin, c.k, c.k];
}

function upload(ctx: GpuContext, data: Float32Array, c: Case, storeAs: "f32" | "f16") {
  return uploadConv2dWeight(ctx, { shape: weightShape(c), data }, "w", storeAs);
}

Deno.test("conv2d 3×3 and 1×1 at odd sizes match the CPU reference", async () => {
  const ctx = await testGpu();
  const cases: Case[] = [
    { h: 13, w: 11, cin: 7, cout: 9, k: 3 },
    { h: 13, w: 11, cin: 7, cout: 9, k: 1 },
    { h: 9, w: 10, cin: 32, cout: 64, k: 3 },
    { h: 9, w: 10, cin: 32, cout: 64, k: 1 },
  ];
  for (const c of cases) {
    for (const dtype of actDTypes(ctx)) {
      let x = randn(c.h * c.w * c.cin, 1), wt = randn(c.cout * c.cin * c.k * c.k, 2, 0.2);
      const b = randn(c.cout, 3);
      if (dtype === "f16") [x, wt] = [roundF16(x), roundF16(wt)];
      const tx = Tensor.fromF32(ctx, x, [c.h, c.w, c.cin], dtype);
      const w = upload(ctx, wt, c, dtype);
      const tb = Tensor.fromF32(ctx, b, [c.cout]);
      const what = `${c.k}×${c.k} ${c.h}×${c.w}×${c.cin}→${c.cout} ${dtype}`;
      const want = conv2dRef({ x, h: c.h, w: c.w, weight: wt, weightShape: weightShape(c) });
      const wantB = conv2dRef({
        x,
        h: c.h,
        w: c.w,
        weight: wt,
        weightShape: weightShape(c),
        bias: b,
      });
      const o1 = conv2d(ctx, tx, w);
      assertEquals(o1.shape, [c.h, c.w, c.cout], what);
      assertClose(await o1.toF32(), want, TOL[dtype], what);
      const o2 = conv2d(ctx, tx, w, tb);
      assertClose(await o2.toF32(), wantB, TOL[dtype], `${what} bias`);
      for (const t of [tx, w.tensor, tb, o1, o2]) t.release();
    }
  }
});

Deno.test("conv2d with the adapter's default pixel tile matches the reference", async () => {
  const ctx = await testGpu();
  // 15×19 = 285 pixels: partial tiles of 512 (CPU adapters) or 5 of 64 (GPUs); 2 channel tiles.
  const c: Case = { h: 15, w: 19, cin: 6, cout: 70, k: 3 };
  for (const dtype of actDTypes(ctx)) {
    let x = randn(c.h * c.w * c.cin, 21), wt = randn(c.cout * c.cin * 9, 22, 0.3);
    if (dtype === "f16") [x, wt] = [roundF16(x), roundF16(wt)];
    const tx = Tensor.fromF32(ctx, x, [c.h, c.w, c.cin], dtype);
    const w = upload(ctx, wt, c, dtype);
    const want = conv2dRef({ x, h: c.h, w: c.w, weight: wt, weightShape: weightShape(c) });
    const o = conv2d(ctx, tx, w);
    assertClose(await o.toF32(), want, TOL[dtype], `default pixel tile ${dtype}`);
    // 64-pixel tiles sum in the same order: identical results.
    const o64 = conv2d(ctx, tx, w, undefined, { tile: { threads: 64, pixelsPerThread: 1 } });
    assertEquals(relErr(await o64.toF32(), await o.toF32()), 0, `64 vs default ${dtype}`);
    for (const t of [tx, w.tensor, o, o64]) t.release();
  }
});

Deno.test("conv2d channel tiles 4–64 × pixel tiles 64–512 match the CPU reference", async () => {
  const ctx = await testGpu();
  // 23×13 = 299 pixels: 5 tiles of 64 … one partial tile of 512; 1, 2, 4 and 8
  // pixels per thread.
  // cin 5 and 7 are not multiples of 4 (element loads, zero-padded weight rows),
  // cin 20 is (vec4 loads).
  const cases: [cout: number, cin: number, tile: number][] = [
    [3, 5, 4],
    [4, 20, 4],
    [7, 7, 8],
    [8, 20, 8],
    [16, 5, 16],
    [24, 20, 32],
    [32, 5, 32],
    [40, 7, 64],
    [64, 20, 64],
    [70, 5, 64],
    [130, 20, 64],
  ];
  const [h, wd] = [23, 13];
  for (const [cout, cin, tile] of cases) {
    assertEquals(convTileChannels(cout), tile, `channel tile for cout ${cout}`);
    const c: Case = { h, w: wd, cin, cout, k: 3 };
    for (const dtype of actDTypes(ctx)) {
      let x = randn(h * wd * cin, 30 + cout), wt = randn(cout * cin * 9, 31 + cout, 0.2);
      const b = randn(cout, 32 + cout);
      if (dtype === "f16") [x, wt] = [roundF16(x), roundF16(wt)];
      const tx = Tensor.fromF32(ctx, x, [h, wd, cin], dtype);
      const w = upload(ctx, wt, c, dtype);
      const tb = Tensor.fromF32(ctx, b, [cout]);
      const want = conv2dRef({ x, h, w: wd, weight: wt, weightShape: weightShape(c), bias: b });
      const got: Float32Array[] = [];
      for (const t of TILES) {
        const o = conv2d(ctx, tx, w, tb, { tile: t });
        const what = `${cin}→${cout} (BN ${tile}, ${t.threads}×${t.pixelsPerThread} px) ${dtype}`;
        got.push(await o.toF32());
        assertClose(got[got.length - 1], want, TOL[dtype], what);
        o.release();
      }
      // Pixel tiles do not change any output's summation order.
      for (let i = 1; i < got.length; i++) {
        assertEquals(relErr(got[0], got[i]), 0, `BM 64 vs tile ${i}, cout ${cout} ${dtype}`);
      }
      for (const t of [tx, w.tensor, tb]) t.release();
    }
  }
});

Deno.test("conv2d with 512 input channels (the VAE's widest level) matches the reference", async () => {
  // The longest reduction the decoder runs (K = 9 · 512): on CPU adapters the
  // whole loop nest must stay under llvmpipe's loop-iteration limit, which
  // would otherwise end it early and silently leave part of K unsummed.
  const ctx = await testGpu();
  const c: Case = { h: 5, w: 7, cin: 512, cout: 72, k: 3 };
  const x = randn(c.h * c.w * c.cin, 50), wt = randn(c.cout * c.cin * 9, 51, 0.05);
  const b = randn(c.cout, 52);
  const tx = Tensor.fromF32(ctx, x, [c.h, c.w, c.cin]);
  const w = upload(ctx, wt, c, "f32");
  const tb = Tensor.fromF32(ctx, b, [c.cout]);
  const want = conv2dRef({ x, h: c.h, w: c.w, weight: wt, weightShape: weightShape(c), bias: b });
  for (const t of [TILES[0], TILES[TILES.length - 1]]) {
    const o = conv2d(ctx, tx, w, tb, { tile: t });
    const what = `512→72, ${t.threads}×${t.pixelsPerThread} px`;
    assertClose(await o.toF32(), want, TOL.f32, what);
    o.release();
  }
  for (const t of [tx, w.tensor, tb]) t.release();
});

Deno.test("conv2d refuses a reduction longer than a CPU adapter's loop limit", async () => {
  const ctx = await testGpu();
  if (!ctx.isSoftware) return; // GPUs run any length
  // 3×3 over 2048 channels with a 64-channel tile: 9 · 512 · 17 loop trips.
  const c: Case = { h: 1, w: 1, cin: 2048, cout: 64, k: 3 };
  const w = upload(ctx, randn(c.cout * c.cin * 9, 60, 0.01), c, "f32");
  const x = Tensor.fromF32(ctx, randn(c.cin, 61), [1, 1, c.cin]);
  assertThrows(() => conv2d(ctx, x, w), "2048 input channels", "78336 loop iterations");
  for (const t of [x, w.tensor]) t.release();
});

Deno.test("conv2d weights load from F32/F16/BF16 checkpoint bytes", async () => {
  const ctx = await testGpu();
  const c: Case = { h: 5, w: 6, cin: 5, cout: 6, k: 3 };
  const x = randn(c.h * c.w * c.cin, 4);
  const tx = Tensor.fromF32(ctx, x, [c.h, c.w, c.cin]);
  const enc = {
    F16: (v: number) => f32ToF16(v),
    BF16: (v: number) => f32ToBf16(v),
  };
  for (const dtype of ["F32", "F16", "BF16"] as const) {
    const wt = randn(c.cout * c.cin * 9, 5, 0.3);
    let bytes: Uint8Array;
    if (dtype === "F32") bytes = new Uint8Array(wt.buffer.slice(0));
    else bytes = new Uint8Array(Uint16Array.from(wt, enc[dtype]).buffer);
    // The values the file really holds, for the reference.
    const held = dtype === "F32" ? wt : dtype === "F16" ? roundF16(wt) : wt.map((v) => {
      const f = new Float32Array(new Uint32Array([f32ToBf16(v) << 16]).buffer);
      return f[0];
    });
    const w = uploadConv2dWeight(ctx, { dtype, shape: weightShape(c), bytes }, `w ${dtype}`);
    const o = conv2d(ctx, tx, w);
    const want = conv2dRef({ x, h: c.h, w: c.w, weight: held, weightShape: weightShape(c) });
    assertClose(await o.toF32(), want, TOL.f32, `weights ${dtype}`);
    o.release();
    w.tensor.release();
    if (ctx.features.f16) {
      // Stored as f16 under f32 activations: the reference sees the f16-rounded weights.
      const w16 = uploadConv2dWeight(ctx, { dtype, shape: weightShape(c), bytes }, "w16", "f16");
      const o16 = conv2d(ctx, tx, w16);
      const want16 = conv2dRef({
        x,
        h: c.h,
        w: c.w,
        weight: roundF16(held),
        weightShape: weightShape(c),
      });
      assertClose(await o16.toF32(), want16, TOL.f32, `weights ${dtype} stored as f16`);
      o16.release();
      w16.tensor.release();
    }
  }
  tx.release();
  await assertRejects(
    () => uploadConv2dWeight(ctx, { shape: [4, 3, 2, 2], data: new Float32Array(48) }, "odd"),
    "'odd'",
    "[4, 3, 2, 2]",
  );
});

Deno.test("conv2d fuses nearest ×2 upsampling and a residual", async () => {
  const ctx = await testGpu();
  const c: Case = { h: 5, w: 7, cin: 12, cout: 10, k: 3 };
  for (const dtype of actDTypes(ctx)) {
    let x = randn(c.h * c.w * c.cin, 6), wt = randn(c.cout * c.cin * 9, 7, 0.2);
    let r = randn(4 * c.h * c.w * c.cout, 8);
    const b = randn(c.cout, 9);
    if (dtype === "f16") [x, wt, r] = [roundF16(x), roundF16(wt), roundF16(r)];
    const tx = Tensor.fromF32(ctx, x, [c.h, c.w, c.cin], dtype);
    const tr = Tensor.fromF32(ctx, r, [2 * c.h, 2 * c.w, c.cout], dtype);
    const tb = Tensor.fromF32(ctx, b, [c.cout]);
    const w = upload(ctx, wt, c, "f32"); // f32 weights with f16 activations too
    const o = conv2d(ctx, tx, w, tb, { upsample: true, residual: tr });
    assertEquals(o.shape, [2 * c.h, 2 * c.w, c.cout]);
    const want = conv2dRef({
      x: upsampleNearest2xRef(x, c.h, c.w, c.cin),
      h: 2 * c.h,
      w: 2 * c.w,
      weight: wt,
      weightShape: weightShape(c),
      bias: b,
      residual: r,
    });
    assertClose(await o.toF32(), want, TOL[dtype], `upsample+residual ${dtype}`);
    // In place: the residual's own tensor receives the result.
    conv2d(ctx, tx, w, tb, { upsample: true, residual: tr, out: tr });
    assertClose(await tr.toF32(), want, TOL[dtype], `in-place residual ${dtype}`);
    const square = upload(ctx, randn(c.cin * c.cin, 10), { ...c, cout: c.cin, k: 1 }, "f32");
    await assertRejects(() => conv2d(ctx, tx, square, undefined, { out: tx }), "shares a buffer");
    for (const t of [tx, tr, tb, w.tensor, o, square.tensor]) t.release();
  }
});

/** Rows [r0, r1) of an [H, W, C] host image as a GPU band. */
function band(ctx: GpuContext, x: Float32Array, w: number, c: number, r0: number, r1: number) {
  return Tensor.fromF32(ctx, x.subarray(r0 * w * c, r1 * w * c), [r1 - r0, w, c]);
}

/**
 * Convolves an image band by band and checks the pieces against the
 * whole-image conv, and that against the CPU reference when given one.
 */
async function checkBands(
  ctx: GpuContext,
  x: Float32Array,
  [h, wd, cin]: number[],
  w: Conv2dWeight,
  bias: Tensor,
  outBands: [number, number][],
  upsample: boolean,
  want?: Float32Array,
) {
  const tx = Tensor.fromF32(ctx, x, [h, wd, cin]);
  const whole = await conv2d(ctx, tx, w, bias, { upsample }).toF32();
  if (want) assertClose(whole, want, TOL.f32, `whole-image conv (upsample ${upsample})`);
  const rowLen = wd * (upsample ? 2 : 1) * w.cout;
  const pieces = new Float32Array(whole.length);
  for (const rows of outBands) {
    const [r0, r1] = conv2dInputRows(w.kernel, h, rows, upsample);
    const tb = band(ctx, x, wd, cin, r0, r1);
    const o = conv2d(ctx, tb, w, bias, {
      band: { inputRowOffset: r0, imageHeight: h },
      outputRows: rows,
      upsample,
    });
    assertEquals(o.shape[0], rows[1] - rows[0]);
    pieces.set(await o.toF32(), rows[0] * rowLen);
    o.release();
    tb.release();
  }
  tx.release();
  const e = relErr(pieces, whole);
  assert(e <= 1e-6, `banded conv (upsample ${upsample}) differs from whole: ${e}`);
}

Deno.test("conv2d band by band equals the whole-image conv", async () => {
  const ctx = await testGpu();
  const [h, wd, cin, cout] = [23, 9, 20, 70];
  const x = randn(h * wd * cin, 10);
  const b = Tensor.fromF32(ctx, randn(cout, 11), [cout]);
  for (const k of [3, 1] as const) {
    const c: Case = { h, w: wd, cin, cout, k };
    const w = upload(ctx, randn(cout * cin * k * k, 12, 0.2), c, "f32");
    await checkBands(ctx, x, [h, wd, cin], w, b, [[0, 8], [8, 9], [9, 23]], false);
    // Upsampled: 46 output rows; odd band edges split source rows between bands.
    await checkBands(ctx, x, [h, wd, cin], w, b, [[0, 7], [7, 30], [30, 46]], true);
    w.tensor.release();
  }
  b.release();
});

Deno.test("conv2d with few output channels: bands and fused upsampling", async () => {
  const ctx = await testGpu();
  // 3 and 8 output channels (4- and 8-channel tiles, as the VAE's conv_out and last level),
  // 8 input channels.
  const [h, wd, cin] = [13, 7, 8];
  const x = randn(h * wd * cin, 40);
  for (const cout of [3, 8]) {
    for (const k of [3, 1] as const) {
      const c: Case = { h, w: wd, cin, cout, k };
      const wt = randn(cout * cin * k * k, 41 + cout, 0.3), bh = randn(cout, 42 + cout);
      const w = upload(ctx, wt, c, "f32");
      const b = Tensor.fromF32(ctx, bh, [cout]);
      const ref = (up: boolean) =>
        conv2dRef({
          x: up ? upsampleNearest2xRef(x, h, wd, cin) : x,
          h: up ? 2 * h : h,
          w: up ? 2 * wd : wd,
          weight: wt,
          weightShape: weightShape(c),
          bias: bh,
        });
      await checkBands(ctx, x, [h, wd, cin], w, b, [[0, 5], [5, 6], [6, 13]], false, ref(false));
      await checkBands(ctx, x, [h, wd, cin], w, b, [[0, 9], [9, 20], [20, 26]], true, ref(true));
      w.tensor.release();
      b.release();
    }
  }
});

Deno.test("conv2d default output rows and writing into a view of a haloed band", async () => {
  const ctx = await testGpu();
  const [h, wd, cin, cout] = [12, 16, 16, 16];
  const c: Case = { h, w: wd, cin, cout, k: 3 };
  const x = randn(h * wd * cin, 13);
  const wt = randn(cout * cin * 9, 14, 0.2);
  const w = upload(ctx, wt, c, "f32");
  const whole = conv2dRef({ x, h, w: wd, weight: wt, weightShape: weightShape(c) });
  // Band rows [3, 9) with a 1-row halo: the default output is its interior rows [4, 8).
  const tb = band(ctx, x, wd, cin, 3, 9);
  const o = conv2d(ctx, tb, w, undefined, { band: { inputRowOffset: 3, imageHeight: h } });
  assertEquals(o.shape, [4, wd, cout]);
  const rowLen = wd * cout;
  assertClose(await o.toF32(), whole.subarray(4 * rowLen, 8 * rowLen), TOL.f32, "interior rows");
  // The same rows written into rows 1..4 of a haloed [6, W, C] tensor (a 256-byte aligned view).
  const dst = Tensor.fromF32(ctx, new Float32Array(6 * rowLen).fill(7), [6, wd, cout]);
  conv2d(ctx, tb, w, undefined, {
    band: { inputRowOffset: 3, imageHeight: h },
    out: dst.view([4, wd, cout], "f32", rowLen * 4),
  });
  const got = await dst.toF32();
  assertClose(
    got.subarray(rowLen, 5 * rowLen),
    whole.subarray(4 * rowLen, 8 * rowLen),
    TOL.f32,
    "view",
  );
  assert(got[0] === 7 && got[5 * rowLen] === 7, "rows outside the view are untouched");
  // Asking for rows the band cannot produce names the rows it lacks.
  await assertRejects(
    () =>
      conv2d(ctx, tb, w, undefined, {
        band: { inputRowOffset: 3, imageHeight: h },
        outputRows: [3, 8],
      }),
    "read image rows [2, 9)",
    "holds rows [3, 9)",
  );
  const t7 = Tensor.fromF32(ctx, randn(wd * 7, 15), [1, wd, 7]);
  await assertRejects(() => conv2d(ctx, t7, w), "has 7 channels", "takes 16");
  for (const t of [tb, o, dst, t7, w.tensor]) t.release();
});
