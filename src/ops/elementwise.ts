/**
 * Element-wise ops (add, mul, sub, SiLU-gate, AdaLN modulation, SiLU, tanh,
 * the DiT's gated residual) on f32 or f16 tensors, with
 * broadcasting of the other operands. One shader (`shaders/elementwise.wgsl`)
 * parameterised by the op code. CPU reference: `elementwise_ref.ts`.
 */
import elementwiseWgsl from "../../shaders/elementwise.wgsl" with { type: "text" };
import { type GpuContext, grid } from "../gpu/context.ts";
import { Tensor } from "../gpu/tensor.ts";
import { composeWgsl } from "../gpu/wgsl.ts";
import { actType, assertActivation } from "./common.ts";

export const BINARY_OPS = { add: 0, mul: 1, sub: 2, siluGate: 3, modulate: 4 } as const;
export const UNARY_OPS = { silu: 5, tanh: 6 } as const;
const GATED_RESIDUAL = 7;
export type BinaryOp = keyof typeof BINARY_OPS;
export type UnaryOp = keyof typeof UNARY_OPS;

/** A broadcast operand: element `i` of the output reads `t[(i / div) % t.numel]`. */
interface Operand {
  t: Tensor;
  div: number;
}

function run(
  ctx: GpuContext,
  code: number,
  name: string,
  a: Tensor,
  b: Operand,
  c: Operand,
): Tensor {
  const out = Tensor.empty(ctx, a.shape, a.dtype, name);
  const params = new Uint32Array([a.numel, b.div, b.t.numel, c.div, c.t.numel]);
  ctx.dispatch({
    name: `elementwise_${name}_${a.dtype}`,
    code: composeWgsl({
      f16: a.dtype === "f16",
      aliases: { act_t: actType(a.dtype) },
      consts: { OP: code },
    }, elementwiseWgsl),
    params: true,
    storage: ["read", "read", "read", "read_write"],
  }, {
    params: new Uint8Array(params.buffer),
    bindings: [a.binding, b.t.binding, c.t.binding, out.binding],
    workgroups: grid(ctx, Math.ceil(a.numel / 256)),
  });
  return out;
}

/** Checks that `b` has `a`'s dtype and broadcasts over it with divisor `div`. */
function checkOperand(op: string, a: Tensor, b: Tensor, div: number, role: string): void {
  if (b.dtype !== a.dtype) {
    throw new Error(`${op}: dtypes differ (${a.dtype} vs ${role} ${b.dtype})`);
  }
  if (!Number.isInteger(div) || div < 1 || a.numel % (b.numel * div) !== 0) {
    throw new Error(
      `${op}: ${role} '${b.label}' (${b.numel} elements, divisor ${div}) does not broadcast ` +
        `over '${a.label}' (${a.numel})`,
    );
  }
}

/**
 * `out[i] = a[i] op b[j]` where `b` either has `a`'s shape, or broadcasts:
 * its numel divides `a`'s and it repeats along leading axes (e.g. a bias
 * `[N]` over `[M, N]`). With `bDiv = N`, a `[M]` vector broadcasts along
 * rows instead (`j = (i / N) % M`).
 */
export function binary(ctx: GpuContext, op: BinaryOp, a: Tensor, b: Tensor, bDiv = 1): Tensor {
  assertActivation(a, `binary ${op}`);
  checkOperand(`binary ${op}`, a, b, bDiv, "b");
  return run(ctx, BINARY_OPS[op], op, a, { t: b, div: bDiv }, { t: b, div: bDiv });
}

export function unary(ctx: GpuContext, op: UnaryOp, a: Tensor): Tensor {
  assertActivation(a, `unary ${op}`);
  const self = { t: a, div: 1 };
  return run(ctx, UNARY_OPS[op], op, a, self, self);
}

/**
 * The DiT's gated residual `h + tanh(gate) * y` in one pass: `y` has `h`'s
 * shape, `gate` broadcasts like `b` in {@link binary} (a `[D]` vector per
 * column of `[L, D]` by default).
 */
export function gatedResidual(
  ctx: GpuContext,
  h: Tensor,
  y: Tensor,
  gate: Tensor,
  gateDiv = 1,
): Tensor {
  const op = "gatedResidual";
  assertActivation(h, op);
  checkOperand(op, h, y, 1, "y");
  if (y.numel !== h.numel) {
    throw new Error(`${op}: y '${y.label}' has ${y.numel} elements, h '${h.label}' ${h.numel}`);
  }
  checkOperand(op, h, gate, gateDiv, "gate");
  return run(ctx, GATED_RESIDUAL, op, h, { t: y, div: 1 }, { t: gate, div: gateDiv });
}
