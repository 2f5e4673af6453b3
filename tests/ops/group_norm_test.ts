import { Tensor } from "../../src/gpu/tensor.ts";
import type { GpuContext } from "../../src/gpu/context.ts";
import {
  groupNormApply,
  type GroupNormApplyOptions,
  type GroupNormStats,
  groupNormStats,
} from "../../src/ops/group_norm.ts";
import { groupNormRef, groupNormStatsRef } from "../../src/ops/group_norm_ref.ts";
import { assert, assertEquals, assertRejects } from "../assert.ts";
import { actDTypes, assertClose, randn, relErr, roundF16, testGpu, TOL } from "../util.ts";

const EPS = 1e-6;

/** Statistics and normalisation of one whole tensor. */
function groupNorm(
  ctx: GpuContext,
  x: Tensor,
  groups: number,
  gamma: Tensor,
  beta: Tensor,
  eps: number,
  opts: GroupNormApplyOptions = {},
): Tensor {
  const stats = groupNormStats(ctx, x, groups);
  const out = groupNormApply(ctx, x, stats, gamma, beta, eps, opts);
  stats.tensor.release();
  return out;
}

/** Reads statistics back: per group the count, mean and (biased) variance. */
async function readGroupNormStats(
  stats: GroupNormStats,
): Promise<{ count: number[]; mean: number[]; variance: number[] }> {
  const raw = await stats.tensor.read() as Uint32Array;
  const f = new Float32Array(raw.buffer, raw.byteOffset, raw.length);
  const count: number[] = [], mean: number[] = [], variance: number[] = [];
  for (let g = 0; g < stats.groups; g++) {
    count.push(raw[4 * g]);
    mean.push(f[4 * g + 1]);
    variance.push(f[4 * g + 2] / raw[4 * g]);
  }
  return { count, mean, variance };
}

/** N(mean, 1) values plus a per-channel offset, so groups differ. */
function data(pixels: number, channels: number, mean: number, seed: number): Float32Array {
  const off = randn(channels, seed + 1, 0.5);
  return randn(pixels * channels, seed).map((v, i) => v + mean + off[i % channels]);
}

Deno.test("groupNorm (32 groups, ± SiLU) matches the CPU reference on data with mean 5", async () => {
  const ctx = await testGpu();
  // 32 groups of 2 and of 3 channels; 512 channels make each thread own 2 channels.
  for (const [h, w, c] of [[13, 11, 64], [9, 7, 96], [5, 3, 512]]) {
    for (const dtype of actDTypes(ctx)) {
      let x = data(h * w, c, 5, 1);
      if (dtype === "f16") x = roundF16(x);
      const gamma = randn(c, 3).map((v) => 1 + 0.3 * v), beta = randn(c, 4, 0.5);
      const tx = Tensor.fromF32(ctx, x, [h, w, c], dtype);
      const tg = Tensor.fromF32(ctx, gamma, [c]), tb = Tensor.fromF32(ctx, beta, [c]);
      for (const silu of [false, true]) {
        const o = groupNorm(ctx, tx, 32, tg, tb, EPS, { silu });
        assertEquals(o.shape, [h, w, c]);
        assertClose(
          await o.toF32(),
          groupNormRef(x, c, 32, gamma, beta, EPS, silu),
          TOL[dtype],
          `${h}×${w}×${c} ${dtype} silu ${silu}`,
        );
        o.release();
      }
      for (const t of [tx, tg, tb]) t.release();
    }
  }
});

Deno.test("groupNormStats keep f32 precision for large groups with a large mean", async () => {
  const ctx = await testGpu();
  // 64×64 pixels × 64 channels: 8 workgroup chunks; mean 1000 with unit spread
  // would lose every digit of the variance in a naive Σx² − (Σx)²/n.
  const [h, w, c] = [64, 64, 64];
  for (const mean of [5, 1000]) {
    const x = data(h * w, c, mean, 7);
    const tx = Tensor.fromF32(ctx, x, [h, w, c]);
    const stats = groupNormStats(ctx, tx, 32);
    const got = await readGroupNormStats(stats);
    const want = groupNormStatsRef(x, c, 32);
    assertEquals(got.count, new Array(32).fill(h * w * 2));
    assert(relErr(got.mean, want.mean) < 1e-6, `mean ${mean}: ${relErr(got.mean, want.mean)}`);
    const ev = relErr(got.variance, want.variance);
    assert(ev < 1e-5, `variance at mean ${mean}: relative error ${ev}`);
    tx.release();
    stats.tensor.release();
  }
});

Deno.test("groupNorm statistics accumulated band by band equal the whole image's", async () => {
  const ctx = await testGpu();
  const [h, w, c] = [21, 10, 96];
  const x = data(h * w, c, 5, 11);
  const gamma = randn(c, 12).map((v) => 1 + 0.3 * v), beta = randn(c, 13, 0.5);
  const tg = Tensor.fromF32(ctx, gamma, [c]), tb = Tensor.fromF32(ctx, beta, [c]);
  const tx = Tensor.fromF32(ctx, x, [h, w, c]);
  const whole = await groupNorm(ctx, tx, 32, tg, tb, EPS, { silu: true }).toF32();
  // Bands of rows [0, 6), [6, 7), [7, 21), each stored with a 1-row halo that
  // the statistics must leave out.
  const bands: [number, number][] = [[0, 6], [6, 7], [7, 21]];
  const rowLen = w * c;
  const tensors = bands.map(([a, b]) => {
    const [lo, hi] = [Math.max(0, a - 1), Math.min(h, b + 1)];
    const t = Tensor.fromF32(ctx, x.subarray(lo * rowLen, hi * rowLen), [hi - lo, w, c]);
    return { t, rows: [a - lo, b - lo] as [number, number], a, b, lo };
  });
  let stats = undefined;
  for (const band of tensors) stats = groupNormStats(ctx, band.t, 32, stats, { rows: band.rows });
  const got = await readGroupNormStats(stats!);
  const want = groupNormStatsRef(x, c, 32);
  assertEquals(got.count, new Array(32).fill(h * w * 3));
  assert(relErr(got.mean, want.mean) < 1e-6, "banded mean");
  assert(relErr(got.variance, want.variance) < 1e-5, "banded variance");
  const pieces = new Float32Array(whole.length);
  for (const band of tensors) {
    const o = await groupNormApply(ctx, band.t, stats!, tg, tb, EPS, { silu: true }).toF32();
    const from = (band.a - band.lo) * rowLen;
    pieces.set(o.subarray(from, from + (band.b - band.a) * rowLen), band.a * rowLen);
  }
  const e = relErr(pieces, whole);
  assert(e <= 1e-6, `banded groupNorm differs from whole: ${e}`);
  for (const band of tensors) band.t.release();
  for (const t of [tx, tg, tb, stats!.tensor]) t.release();
});

Deno.test("groupNorm rejects channels that do not split into the groups", async () => {
  const ctx = await testGpu();
  const tx = Tensor.fromF32(ctx, randn(3 * 4 * 48, 1), [3, 4, 48]);
  const g = Tensor.fromF32(ctx, randn(48, 2), [48]);
  await assertRejects(() => groupNorm(ctx, tx, 32, g, g, EPS), "[3, 4, 48]", "32 groups");
  const stats = groupNormStats(ctx, tx, 16);
  const t64 = Tensor.fromF32(ctx, randn(64, 3), [1, 1, 64]);
  await assertRejects(() => groupNormStats(ctx, t64, 16, stats), "48 channels");
  await assertRejects(
    () => groupNormStats(ctx, tx, 16, undefined, { rows: [2, 2] }),
    "rows [2, 2)",
  );
  for (const t of [tx, g, t64, stats.tensor]) t.release();
});
