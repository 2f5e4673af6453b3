import { Tensor } from "../../src/gpu/tensor.ts";
import type { ActDType } from "../../src/ops/common.ts";
import { copyRows, sliceRows } from "../../src/ops/copy_rows.ts";
import { copyRowsRef } from "../../src/ops/copy_rows_ref.ts";
import { assert, assertEquals, assertRejects } from "../assert.ts";
import { actDTypes, randn, roundF16, testGpu } from "../util.ts";

const round = (v: Float32Array, dtype: ActDType) => dtype === "f16" ? roundF16(v) : v;

Deno.test("copyRows writes a row band at odd offsets, converting dtypes, and nothing else", async () => {
  const ctx = await testGpu();
  // 37 columns: neither row offset is a multiple of 256 bytes in either dtype.
  const [cols, srcRows, dstRows, s0, d0, rows] = [37, 9, 11, 3, 5, 4];
  for (const sd of actDTypes(ctx)) {
    for (const dd of actDTypes(ctx)) {
      const srcHost = round(randn(srcRows * cols, 1), sd);
      const dstHost = round(randn(dstRows * cols, 2), dd);
      const src = Tensor.fromF32(ctx, srcHost, [srcRows, cols], sd, "src");
      const dst = Tensor.fromF32(ctx, dstHost, [dstRows, cols], dd, "dst");
      copyRows(ctx, src, s0, dst, d0, rows);
      const want = round(copyRowsRef(srcHost, s0, dstHost.slice(), d0, rows, cols), dd);
      const got = await dst.toF32();
      assertEquals(Array.from(got), Array.from(want), `${sd} → ${dd}`);
      // The band really moved (source and destination values differ).
      assert(
        got[d0 * cols] === round(srcHost, dd)[s0 * cols] && got[d0 * cols] !== dstHost[d0 * cols],
      );
      src.release();
      dst.release();
    }
  }
});

Deno.test("sliceRows returns a band as a new tensor (every element written)", async () => {
  const ctx = await testGpu();
  for (const dtype of actDTypes(ctx)) {
    const host = round(randn(10 * 6, 3), dtype);
    const src = Tensor.fromF32(ctx, host, [10, 6], dtype, "src");
    const band = sliceRows(ctx, src, 7, 3, "f32");
    assertEquals(band.shape, [3, 6]);
    assertEquals(band.dtype, "f32");
    assertEquals(Array.from(await band.toF32()), Array.from(host.subarray(42, 60)), dtype);
    src.release();
    band.release();
  }
});

Deno.test("copyRows rejects bands out of range, mismatched rows and aliasing", async () => {
  const ctx = await testGpu();
  const a = Tensor.fromF32(ctx, randn(12, 4), [3, 4], "f32", "a");
  const b = Tensor.empty(ctx, [5, 4], "f32", "b");
  const c = Tensor.empty(ctx, [5, 3], "f32", "c");
  await assertRejects(() => copyRows(ctx, a, 1, b, 0, 3), "out of range", "'a'");
  await assertRejects(() => copyRows(ctx, a, 0, b, 3, 3), "out of range", "'b'");
  await assertRejects(() => copyRows(ctx, a, 0, c, 0, 1), "different row lengths");
  await assertRejects(() => copyRows(ctx, a, 0, a.view([3, 4]), 0, 1), "share a buffer");
  await assertRejects(() => copyRows(ctx, a, -1, b, 0, 1), "srcRow0 -1");
  for (const t of [a, b, c]) t.release();
});
