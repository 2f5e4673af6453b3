/**
 * Tensor scopes (src/gpu/scope.ts): what a scope releases, what moves out,
 * nesting, errors, weights, views, keep(), and that a pipe frees each
 * intermediate as early as hand-written releases (same pool peak).
 */
import { sizeClass } from "../../src/gpu/buffer_pool.ts";
import type { GpuContext } from "../../src/gpu/context.ts";
import { Tensor } from "../../src/gpu/tensor.ts";
import { binary, unary } from "../../src/ops/elementwise.ts";
import { assert, assertEquals, assertRejects, assertThrows } from "../assert.ts";
import { assertClose, randn, testGpu } from "../util.ts";

const silu = (x: number) => x / (1 + Math.exp(-x));

/** Runs `fn` and checks that the pool's live bytes and the scope depth are back where they were. */
async function balanced(ctx: GpuContext, fn: () => Promise<void> | void): Promise<void> {
  const live = ctx.pool.stats.liveBytes;
  await fn();
  assertEquals(ctx.pool.stats.liveBytes, live, "pool live bytes back to the start");
  assertEquals(ctx.scopes.depth, 0, "no scope left open");
}

Deno.test("scope releases what it does not return; the result is right and the caller's", async () => {
  const ctx = await testGpu();
  await balanced(ctx, async () => {
    const data = randn(300, 1);
    const x = Tensor.fromF32(ctx, data, [300]);
    const made: Tensor[] = [];
    const before = ctx.pool.stats.liveBytes;
    const y = ctx.scope(() => {
      const a = unary(ctx, "silu", x);
      const b = binary(ctx, "add", a, x);
      made.push(a, b);
      return unary(ctx, "silu", b);
    });
    assert(made.every((t) => t.released), "intermediates released at the scope's end");
    assert(!x.released && !y.released, "the input and the result survive");
    assertEquals(ctx.pool.stats.liveBytes - before, sizeClass(300 * 4), "only the result is live");
    assertClose(await y.toF32(), data.map((v) => silu(silu(v) + v)), 1e-5, "silu(silu(x) + x)");
    assertThrows(() => made[0].binding, "'silu' used after release()");
    y.release();
    x.release();
  });
});

Deno.test("arrays and plain objects of tensors move out; nested scopes hand results outwards", async () => {
  const ctx = await testGpu();
  await balanced(ctx, () => {
    const x = Tensor.fromF32(ctx, randn(64, 2), [64]);
    let inner: Tensor[] = [];
    let fromInner: { s: Tensor; pair: Tensor[] } | undefined;
    const out = ctx.scope(() => {
      fromInner = ctx.scope(() => {
        const t = unary(ctx, "silu", x);
        inner = [t];
        return {
          s: unary(ctx, "silu", t),
          pair: [unary(ctx, "silu", x), binary(ctx, "add", x, x)],
        };
      });
      assert(inner[0].released, "inner intermediate released at the inner end");
      assert(!fromInner.s.released && fromInner.pair.every((t) => !t.released), "moved out");
      assertEquals(ctx.scopes.depth, 1);
      return [fromInner.pair[1]];
    });
    assert(fromInner!.s.released && fromInner!.pair[0].released, "outer releases what it drops");
    assert(!out[0].released, "returned through two scopes");
    out[0].release();
    x.release();
  });
});

Deno.test("a throw inside a scope still releases everything it made", async () => {
  const ctx = await testGpu();
  await balanced(ctx, () => {
    const x = Tensor.fromF32(ctx, randn(64, 3), [64]);
    const made: Tensor[] = [];
    assertThrows(
      () =>
        ctx.scope(() => {
          made.push(unary(ctx, "silu", x));
          ctx.scope(() => {
            made.push(unary(ctx, "silu", x));
            throw new Error("boom in the forward");
          });
        }),
      "boom in the forward",
    );
    assert(made.length === 2 && made.every((t) => t.released));
    assert(!x.released);
    x.release();
  });
});

Deno.test("weights are never recorded; keep() takes a tensor out; views never free their base", async () => {
  const ctx = await testGpu();
  await balanced(ctx, async () => {
    const x = Tensor.fromF32(ctx, randn(64, 4), [64]);
    let view: Tensor | undefined;
    const [weight, kept] = ctx.scope(() => {
      const w = Tensor.upload(ctx, randn(8, 5), [8], "f32", "weight", true);
      const k = ctx.keep(unary(ctx, "silu", x));
      view = x.view([8, 8]);
      const wv = w.view([2, 4]);
      return [w, k, wv.view([8])] as const;
    });
    assert(!weight.released && !kept.released, "weight and kept tensor survive");
    assert(view!.released && !x.released, "a view dies with its scope, its base does not");
    assertEquals((await weight.toF32()).length, 8);
    // A view reports its base's release: a clear error, not a read of a reused buffer.
    const v = weight.view([4, 2]);
    weight.release();
    assertThrows(() => v.binding, "'weight' used after release() of 'weight'");
    kept.release();
    x.release();
  });
});

Deno.test("scope errors: a view of a dropped tensor, a released result, a Promise", async () => {
  const ctx = await testGpu();
  await balanced(ctx, async () => {
    const x = Tensor.fromF32(ctx, randn(64, 6), [64]);
    assertThrows(
      () => ctx.scope(() => unary(ctx, "silu", x).view([8, 8], "f32", 0, "rows")),
      "returned a view 'rows' of tensor 'silu'",
    );
    assertThrows(() =>
      ctx.scope(() => {
        const t = unary(ctx, "silu", x);
        t.release();
        return t;
      }), "already released");
    await assertRejects(() => ctx.scope(async () => await 1), "returned a Promise");
    x.release();
  });
});

Deno.test("pipe frees each step's input at the step's end: same peak as hand-written releases", async () => {
  const ctx = await testGpu();
  const data = randn(4096, 7);
  const x = Tensor.fromF32(ctx, data, [4096]);
  const peakOf = (fn: () => Tensor): [number, Float32Array | Promise<Float32Array>] => {
    ctx.pool.resetPeak();
    const start = ctx.pool.stats.liveBytes;
    const y = fn();
    const peak = ctx.pool.stats.peakBytes - start;
    return [peak, y.toF32().finally(() => y.release())];
  };
  const [handPeak, hand] = peakOf(() => {
    const a = unary(ctx, "silu", x);
    const b = unary(ctx, "silu", a), c = binary(ctx, "add", a, x);
    a.release();
    const d = binary(ctx, "mul", b, c);
    b.release();
    c.release();
    return d;
  });
  let seen: Tensor[] = [];
  const [pipePeak, piped] = peakOf(() =>
    ctx.pipe(
      () => unary(ctx, "silu", x),
      (a) => {
        seen = [a];
        return [unary(ctx, "silu", a), binary(ctx, "add", a, x)];
      },
      ([b, c]) => binary(ctx, "mul", b, c),
    )
  );
  const [scopePeak, scoped] = peakOf(() =>
    ctx.scope(() => {
      const a = unary(ctx, "silu", x);
      return binary(ctx, "mul", unary(ctx, "silu", a), binary(ctx, "add", a, x));
    })
  );
  assert(seen[0].released, "step input released");
  assertEquals(pipePeak, handPeak, "pipe peak = hand-written releases");
  assert(scopePeak > handPeak, "one scope holds every intermediate to its end");
  const expect = data.map((v) => silu(silu(v)) * (silu(v) + v));
  assertClose(await hand, expect, 1e-5, "hand");
  assertClose(await piped, expect, 1e-5, "pipe");
  assertClose(await scoped, expect, 1e-5, "scope");
  x.release();
  assertEquals(ctx.scopes.depth, 0);
});
