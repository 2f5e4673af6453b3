import { BufferPool, sizeClass } from "../../src/gpu/buffer_pool.ts";
import { grid, NO_ADAPTER_HELP } from "../../src/gpu/context.ts";
import { Tensor, TensorTooLargeError } from "../../src/gpu/tensor.ts";
import { timeGpu } from "../../src/gpu/timing.ts";
import { binary, unary } from "../../src/ops/elementwise.ts";
import { assert, assertEquals, assertRejects } from "../assert.ts";
import { randn, testGpu } from "../util.ts";

Deno.test("context reports the adapter, features and raised limits", async () => {
  const ctx = await testGpu();
  assert(ctx.describe().length > 0);
  // We ask for the adapter's maximum, which is above WebGPU's 128 MiB default on every test adapter.
  assert(ctx.limits.maxStorageBufferBindingSize >= 134217728);
  assert(ctx.limits.maxComputeWorkgroupStorageSize >= 16384);
  assert(NO_ADAPTER_HELP.includes("mesa-vulkan-drivers"));
});

Deno.test("upload and readback round-trip every dtype, including odd f16/u8 lengths", async () => {
  const ctx = await testGpu();
  const f = randn(37, 1);
  assertEquals(Array.from(await Tensor.upload(ctx, f, [37], "f32").read()), Array.from(f));
  const h = new Uint16Array([0x3c00, 0xc000, 0x7bff]);
  assertEquals(Array.from(await Tensor.upload(ctx, h, [3], "f16").read()), [
    0x3c00,
    0xc000,
    0x7bff,
  ]);
  assertEquals(Array.from(await Tensor.upload(ctx, h, [3], "f16").toF32()), [1, -2, 65504]);
  const b = new Uint8Array([1, 2, 3, 250, 251]);
  assertEquals(Array.from(await Tensor.upload(ctx, b, [5], "u8").read()), [1, 2, 3, 250, 251]);
  const i = new Int32Array([-5, 7, 2 ** 31 - 1]);
  assertEquals(Array.from(await Tensor.upload(ctx, i, [3], "i32").read()), [-5, 7, 2 ** 31 - 1]);
});

Deno.test("wrong byte count and tensors above the binding limit are clear errors", async () => {
  const ctx = await testGpu();
  await assertRejects(
    () => Tensor.upload(ctx, new Float32Array(5), [2, 3], "f32", "w.bad"),
    "w.bad",
    "20 bytes",
    "[2, 3]",
  );
  const limit = ctx.limits.maxStorageBufferBindingSize;
  const e = await assertRejects(
    () => Tensor.empty(ctx, [limit / 4 + 1], "f32", "huge"),
    "huge",
    "maxStorageBufferBindingSize",
  );
  assert(e instanceof TensorTooLargeError);
});

Deno.test("poisoned outputs are NaN until a kernel writes them", async () => {
  const ctx = await testGpu();
  const t = Tensor.empty(ctx, [10], "f32");
  assert((await t.toF32()).every(Number.isNaN));
  t.release();
  await assertRejects(() => t.read(), "used after release");
});

Deno.test("a chain of ops is one submit; pipelines compile once per variant", async () => {
  const ctx = await testGpu();
  const x = Tensor.fromF32(ctx, randn(1000, 3), [1000]);
  await ctx.sync();
  const [submits, compiles] = [ctx.submitCount, ctx.pipelines.compiles];
  let y = x;
  for (let i = 0; i < 50; i++) {
    const z = binary(ctx, "add", unary(ctx, "tanh", y), x);
    if (y !== x) y.release();
    y = z;
  }
  assertEquals(ctx.submitCount, submits, "no submit while recording");
  await y.read();
  assertEquals(ctx.submitCount, submits + 1, "one submit for the whole chain");
  assert(ctx.pipelines.compiles - compiles <= 2, "tanh and add compiled at most once each");
});

Deno.test("buffer pool reuses released buffers and tracks live and peak bytes", async () => {
  const ctx = await testGpu();
  const pool = new BufferPool(ctx.device);
  const a = pool.acquire(1000, "a");
  assert(a.fresh);
  assertEquals(pool.stats.liveBytes, sizeClass(1000));
  pool.release(a.buffer);
  const b = pool.acquire(900, "b");
  assert(!b.fresh && b.buffer === a.buffer, "same size class reuses the buffer");
  const c = pool.acquire(5000, "c", true);
  assertEquals(pool.stats.peakBytes, sizeClass(1000) + 5000);
  pool.release(c.buffer);
  pool.release(b.buffer);
  assertEquals(pool.stats.liveBytes, 0);
  pool.afterSubmit();
  pool.trim();
  assertEquals(pool.stats.allocatedBytes, 0);
});

Deno.test("size classes waste at most 12.5% and grids fold past the dispatch limit", async () => {
  for (const n of [1, 255, 257, 65537, 1e6, 123456789]) {
    const s = sizeClass(n);
    assert(s >= n && (n < 2048 || s <= n * 1.125), `sizeClass(${n}) = ${s}`);
  }
  const ctx = await testGpu();
  const max = ctx.limits.maxComputeWorkgroupsPerDimension;
  const [x, y] = grid(ctx, max * 3 + 5);
  assert(x <= max && x * y >= max * 3 + 5);
});

Deno.test("GPU timing returns a positive time per repetition", async () => {
  const ctx = await testGpu();
  const x = Tensor.fromF32(ctx, randn(1 << 16, 4), [1 << 16]);
  const t = await timeGpu(ctx, () => unary(ctx, "silu", x).release(), 3);
  assert(t.ms > 0 && Number.isFinite(t.ms), `${t.ms} ms (${t.source})`);
});
