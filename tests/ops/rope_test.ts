import { bf16ToF32, f32ToBf16 } from "../../src/dtype.ts";
import { Tensor } from "../../src/gpu/tensor.ts";
import {
  type HeadLayout,
  type MropeSections,
  rmsNormRope,
  rope,
  ropeAxis,
  ropeTables,
  uploadRopeTables,
} from "../../src/ops/rope.ts";
import { ropeRef, ropeTablesRef } from "../../src/ops/rope_ref.ts";
import { assert, assertEquals, assertRejects } from "../assert.ts";
import { actDTypes, assertClose, randn, rng, roundF16, testGpu, TOL } from "../util.ts";

const axes = (half: number, s: MropeSections | null) =>
  Array.from({ length: half }, (_, k) => ropeAxis(k, s));

Deno.test("MRoPE axis rule: hand-checked small case and the real models' sections", () => {
  // sections (2, 1, 1), D = 16 → 8 frequencies. Axis 1 takes k ≡ 1 (mod 3) below 3·1 = 3: k = 1.
  // Axis 2 takes k ≡ 2 (mod 3) below 3·1 = 3: k = 2. Everything else (k = 0, 3..7) is axis 0.
  assertEquals(axes(8, [2, 1, 1]), [0, 1, 2, 0, 0, 0, 0, 0]);
  // sections (3, 2, 2), D = 16: axis 1 at k = 1, 4; axis 2 at k = 2, 5.
  assertEquals(axes(8, [3, 2, 2]), [0, 1, 2, 0, 1, 2, 0, 0]);
  assertEquals(axes(4, null), [0, 0, 0, 0]);
  // The DiT: sections (24, 20, 20), D = 256: k < 60 cycles t, h, w; k ≥ 60 is axis 0.
  const dit = axes(128, [24, 20, 20]);
  for (let k = 0; k < 128; k++) assertEquals(dit[k], k < 60 ? k % 3 : 0, `DiT k=${k}`);
  // Qwen3-VL text: same sections, D = 128 → k = 60..63 are axis 0.
  assertEquals(axes(64, [24, 20, 20]).slice(57), [0, 1, 2, 0, 0, 0, 0]);
});

Deno.test("ropeTables: hand-computed angles for a 3-axis position", () => {
  // One token at (t, h, w) = (10, 200, 3000), D = 16, theta = 100, sections (2, 1, 1):
  // angle_k = pos[axis_k] · 100^(-2k/16) = pos[axis_k] · 10^(-k/4).
  const tables = ropeTables(new Int32Array([10, 200, 3000]), 16, 100, [2, 1, 1]);
  // Axes per k from the hand-checked rule above: [0, 1, 2, 0, 0, 0, 0, 0].
  const pos = [10, 200, 3000, 10, 10, 10, 10, 10];
  for (let k = 0; k < 8; k++) {
    const a = pos[k] * 10 ** (-k / 4);
    assert(Math.abs(tables.cos[k] - Math.cos(a)) < 1e-7, `cos k=${k}`);
    assert(Math.abs(tables.sin[k] - Math.sin(a)) < 1e-7, `sin k=${k}`);
  }
});

/** The DiT's positions: text i → (i, i, i); image (gy, gx) → (65536, 65536 + gy, 65536 + gx). */
function ditPositions(text: number, gh: number, gw: number): Int32Array {
  const p: number[] = [];
  for (let i = 0; i < text; i++) p.push(i, i, i);
  for (let y = 0; y < gh; y++) for (let x = 0; x < gw; x++) p.push(65536, 65536 + y, 65536 + x);
  return new Int32Array(p);
}

Deno.test("ropeTables match the reference's overwrite-ranges construction at DiT positions", () => {
  const positions = ditPositions(7, 5, 6);
  for (const [D, sections] of [[256, [24, 20, 20]], [128, [24, 20, 20]], [40, null]] as const) {
    const got = ropeTables(positions, D, 5e6, sections),
      want = ropeTablesRef(positions, D, 5e6, sections);
    let worst = 0;
    for (let i = 0; i < got.cos.length; i++) {
      worst = Math.max(
        worst,
        Math.abs(got.cos[i] - want.cos[i]),
        Math.abs(got.sin[i] - want.sin[i]),
      );
    }
    // Both are f64 → f32; anything beyond an f32 rounding step means a different angle.
    assert(worst <= 1.2e-7, `D=${D}: tables differ by ${worst}`);
  }
});

Deno.test("text-only MRoPE (all axes equal) is plain 1-D RoPE, as for Qwen3-VL text", () => {
  const positions = ditPositions(50, 0, 0);
  const mrope = ropeTables(positions, 128, 5e6, [24, 20, 20]),
    plain = ropeTables(positions, 128, 5e6, null);
  assertEquals(Array.from(mrope.cos), Array.from(plain.cos));
  assertEquals(Array.from(mrope.sin), Array.from(plain.sin));
});

Deno.test("ropeTables torchBf16 rounds inv_freq through bf16 like the bf16 reference", () => {
  // Position 1: the angle is inv_freq itself (≤ 1 rad, so atan2 recovers it to f32 precision).
  const t = ropeTables(new Int32Array([1, 1, 1]), 256, 5e6, [24, 20, 20], { torchBf16: true });
  let differs = 0;
  for (let k = 0; k < 128; k++) {
    const a = Math.atan2(t.sin[k], t.cos[k]), exact = 5e6 ** (-2 * k / 256);
    assert(Math.abs(a - exact) <= exact * 2 ** -8, `k=${k}: ${a} vs ${exact}`);
    assert(Math.abs(bf16ToF32(f32ToBf16(a)) - a) <= a * 1e-6, `k=${k}: ${a} is not a bf16 value`);
    if (Math.abs(a - exact) > exact * 1e-5) differs++;
  }
  assert(differs > 64, `only ${differs} of 128 frequencies differ from the exact ones`);
});

/** `tokens` random 3-axis positions, up to 70000 like image tokens. */
function randomPositions(tokens: number, seed: number): Int32Array {
  const r = rng(seed);
  return Int32Array.from({ length: tokens * 3 }, () => Math.floor(r() * 70000));
}

Deno.test("rope kernel matches the CPU reference (contiguous heads, f32/f16, D=40/256)", async () => {
  const ctx = await testGpu();
  for (const [L, H, D, sections] of [[37, 3, 40, [8, 6, 6]], [5, 2, 256, [24, 20, 20]]] as const) {
    const tables = ropeTables(randomPositions(L, L), D, 5e6, sections);
    const gpuTables = uploadRopeTables(ctx, tables);
    const layout: HeadLayout = { heads: H, headDim: D };
    for (const dtype of actDTypes(ctx)) {
      let x = randn(L * H * D, 61);
      if (dtype === "f16") x = roundF16(x);
      const tx = Tensor.fromF32(ctx, x, [L, H, D], dtype);
      const out = rope(ctx, tx, gpuTables, layout);
      assertEquals(out.shape, [L, H, D]);
      assertClose(
        await out.toF32(),
        ropeRef(x, tables, layout),
        TOL[dtype],
        `rope ${L}x${H}x${D} ${dtype}`,
      );
      tx.release();
      out.release();
    }
    gpuTables.release();
  }
});

Deno.test("rmsNormRope reads q/k out of a packed qkv row and matches the CPU reference", async () => {
  const ctx = await testGpu();
  const [L, H, D] = [37, 3, 40];
  const tables = ropeTables(randomPositions(L, 7), D, 5e6, [8, 6, 6]);
  const gpuTables = uploadRopeTables(ctx, tables);
  const w = randn(D, 71);
  const tw = Tensor.fromF32(ctx, w, [D]);
  for (const dtype of actDTypes(ctx)) {
    // Values with an offset so a norm that skipped the weight or the sqrt would show.
    let qkv: Float32Array = randn(L * 3 * H * D, 72, 2).map((v) => v + 0.5);
    if (dtype === "f16") qkv = roundF16(qkv);
    const tq = Tensor.fromF32(ctx, qkv, [L, 3 * H * D], dtype);
    for (const [name, offset] of [["q", 0], ["k", H * D]] as const) {
      const layout: HeadLayout = { heads: H, headDim: D, rowStride: 3 * H * D, offset };
      const out = rmsNormRope(ctx, tq, gpuTables, layout, tw, 1e-5);
      const want = ropeRef(qkv, tables, layout, { weight: w, eps: 1e-5 });
      assertClose(await out.toF32(), want, TOL[dtype], `rmsNormRope ${name} ${dtype}`);
      out.release();
    }
    await assertRejects(
      () =>
        rope(ctx, tq, gpuTables, {
          heads: H,
          headDim: D,
          rowStride: 3 * H * D,
          offset: 2 * H * D + 1,
        }),
      "rope",
      "does not hold 37 tokens",
    );
    tq.release();
  }
  tw.release();
  gpuTables.release();
});

Deno.test("rope over more (token, head) rows than one grid dimension allows", async () => {
  const ctx = await testGpu();
  // tokens × heads above maxComputeWorkgroupsPerDimension, as for the DiT (4096 × 18).
  const H = 3, D = 4, L = Math.ceil((ctx.limits.maxComputeWorkgroupsPerDimension + 500) / H);
  const tables = ropeTables(randomPositions(L, 9), D, 5e6, null);
  const gpuTables = uploadRopeTables(ctx, tables);
  const x = randn(L * H * D, 63);
  const tx = Tensor.fromF32(ctx, x, [L, H, D]);
  const layout: HeadLayout = { heads: H, headDim: D };
  const out = rope(ctx, tx, gpuTables, layout);
  assertClose(await out.toF32(), ropeRef(x, tables, layout), TOL.f32, `rope ${L * H} rows`);
  for (const t of [tx, out]) t.release();
  gpuTables.release();
});
