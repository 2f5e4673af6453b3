/**
 * The project's kernels as runners of the peer benchmark: the same ops the
 * models call (`linear`, `attention`, `conv2d`), weights uploaded once,
 * outputs preallocated, recorded into the context's open pass and submitted
 * by `sync`.
 */
import type { GpuContext } from "../../src/gpu/context.ts";
import { Tensor } from "../../src/gpu/tensor.ts";
import { syntheticWeight } from "../../src/bench/cases.ts";
import { attention } from "../../src/ops/attention.ts";
import { conv2d, uploadConv2dWeight } from "../../src/ops/conv2d.ts";
import { linear, uploadLinear } from "../../src/ops/linear.ts";
import { filler } from "./random.ts";
import type { Runner } from "./runner.ts";

function randomTensor(ctx: GpuContext, shape: number[], label: string): Tensor {
  return Tensor.fromF32(ctx, filler(shape.reduce((a, b) => a * b, 1)), shape, "f32", label);
}

/** `linear` with an `[n, k]` weight in `format` (f32 | f16 | bf16 | nf4 | fp8), f32 activations. */
export function projectLinear(
  ctx: GpuContext,
  format: string,
  m: number,
  n: number,
  k: number,
): Runner {
  const w = uploadLinear(ctx, syntheticWeight(format, n, k), `peers ${format}`);
  const x = randomTensor(ctx, [m, k], "peers x");
  const y = Tensor.empty(ctx, [m, n], "f32", "peers y");
  return {
    run: () => void linear(ctx, x, w, { out: y }),
    sync: () => ctx.sync(),
    release() {
      w.release();
      x.release();
      y.release();
    },
  };
}

/** Flash attention over `[l, h, d]` queries and `[l, hkv, d]` keys/values. */
export function projectAttention(
  ctx: GpuContext,
  l: number,
  h: number,
  hkv: number,
  d: number,
  causal: boolean,
): Runner {
  const q = randomTensor(ctx, [l, h, d], "peers q");
  const k = randomTensor(ctx, [l, hkv, d], "peers k");
  const v = randomTensor(ctx, [l, hkv, d], "peers v");
  const o = Tensor.empty(ctx, [l, h, d], "f32", "peers o");
  return {
    run: () => void attention(ctx, q, k, v, { causal, scale: 1 / Math.sqrt(d), out: o }),
    sync: () => ctx.sync(),
    release() {
      for (const t of [q, k, v, o]) t.release();
    },
  };
}

/** 3×3 conv, pad 1, with bias, over `[hw, hw, cin]`. */
export function projectConv(ctx: GpuContext, hw: number, cin: number, cout: number): Runner {
  const w = uploadConv2dWeight(
    ctx,
    { shape: [cout, cin, 3, 3], data: filler(cout * cin * 9, 0.05) },
    "peers conv",
    "f32",
  );
  const b = Tensor.fromF32(ctx, filler(cout, 0.1), [cout], "f32", "peers conv bias");
  const x = randomTensor(ctx, [hw, hw, cin], "peers conv x");
  const y = Tensor.empty(ctx, [hw, hw, cout], "f32", "peers conv y");
  return {
    run: () => void conv2d(ctx, x, w, b, { out: y }),
    sync: () => ctx.sync(),
    release() {
      for (const t of [x, y, b, w.tensor]) t.release();
    },
  };
}
