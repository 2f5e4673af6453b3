/**
 * Element-wise ops (add, mul, sub, SiLU-gate, AdaLN modulation, SiLU, tanh)
 * on f32 or f16 tensors, with broadcasting of the second operand.
 * One shader (`shaders/elementwise.wgsl`) parameterised by the op code.
 * CPU reference: `elementwise_ref.ts`.
 */
import elementwiseWgsl from "../../shaders/elementwise.wgsl" with { type: "text" };
import { type GpuContext, grid } from "../gpu/context.ts";
import { Tensor } from "../gpu/tensor.ts";
import { composeWgsl } from "../gpu/wgsl.ts";
import { actType, assertActivation } from "./common.ts";

export const BINARY_OPS = { add: 0, mul: 1, sub: 2, siluGate: 3, modulate: 4 } as const;
export const UNARY_OPS = { silu: 5, tanh: 6 } as const;
export type BinaryOp = keyof typeof BINARY_OPS;
export type UnaryOp = keyof typeof UNARY_OPS;

function run(
  ctx: GpuContext,
  code: number,
  a: Tensor,
  b: Tensor,
  bDiv: number,
  name: string,
): Tensor {
  const out = Tensor.empty(ctx, a.shape, a.dtype, name);
  ctx.dispatch({
    name: `elementwise_${name}_${a.dtype}`,
    code: composeWgsl({
      f16: a.dtype === "f16",
      aliases: { act_t: actType(a.dtype) },
      consts: { OP: code },
    }, elementwiseWgsl),
    params: true,
    storage: ["read", "read", "read_write"],
  }, {
    params: new Uint32Array([a.numel, bDiv, b.numel]),
    bindings: [a.binding, b.binding, out.binding],
    workgroups: grid(ctx, Math.ceil(a.numel / 256)),
  });
  return out;
}

/**
 * `out[i] = a[i] op b[j]` where `b` either has `a`'s shape, or broadcasts:
 * its numel divides `a`'s and it repeats along leading axes (e.g. a bias
 * `[N]` over `[M, N]`). With `bDiv = N`, a `[M]` vector broadcasts along
 * rows instead (`j = (i / N) % M`).
 */
export function binary(ctx: GpuContext, op: BinaryOp, a: Tensor, b: Tensor, bDiv = 1): Tensor {
  assertActivation(a, `binary ${op}`);
  if (b.dtype !== a.dtype) {
    throw new Error(`binary ${op}: dtypes differ (${a.dtype} vs ${b.dtype})`);
  }
  if (a.numel % (b.numel * bDiv) !== 0) {
    throw new Error(`binary ${op}: b (${b.numel} elements) does not broadcast over a (${a.numel})`);
  }
  return run(ctx, BINARY_OPS[op], a, b, bDiv, op);
}

export function unary(ctx: GpuContext, op: UnaryOp, a: Tensor): Tensor {
  assertActivation(a, `unary ${op}`);
  return run(ctx, UNARY_OPS[op], a, a, 1, op);
}
