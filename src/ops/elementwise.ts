/**
 * Element-wise ops (add, mul, sub, SiLU-gate, AdaLN modulation, SiLU, tanh,
 * the DiT's gated residual) on f32 or f16 tensors, with
 * broadcasting of the other operands. One shader (`shaders/elementwise.wgsl`)
 * parameterised by the op code. CPU reference: `elementwise_ref.ts`.
 */
import elementwiseWgsl from "../../shaders/elementwise.wgsl" with { type: "text" };
import { declareKernel } from "../gpu/declare_kernel.ts";
import type { GpuContext } from "../gpu/context.ts";
import { Tensor } from "../gpu/tensor.ts";
import { type ActDType, actType, assertActivation } from "./common.ts";

/** Op codes, `OP_ADD` … in WGSL; the shader's `OP` selects one per variant. */
const OPS = {
  add: 0,
  mul: 1,
  sub: 2,
  siluGate: 3,
  modulate: 4,
  silu: 5,
  tanh: 6,
  gatedResidual: 7,
} as const;
type Op = keyof typeof OPS;

const ELEMENTWISE = /* @__PURE__ */ declareKernel({
  name: "elementwise",
  source: elementwiseWgsl,
  params: { count: "u32", b_div: "u32", b_len: "u32", c_div: "u32", c_len: "u32" },
  enums: { OP: OPS },
  entries: {
    main: {
      a: "read array<act_t>",
      b: "read array<act_t>",
      c: "read array<act_t>",
      out: "read_write array<act_t>",
    },
  },
  workgroupSize: 256,
  variant: (v: { act_t: ActDType; op: Op }) => ({
    aliases: { act_t: v.act_t },
    select: { OP: v.op },
  }),
});

/** The binary ops of {@link binary}. */
export const BINARY_OPS = ["add", "mul", "sub", "siluGate", "modulate"] as const satisfies Op[];
/** The unary ops of {@link unary}. */
export const UNARY_OPS = ["silu", "tanh"] as const satisfies Op[];
export type BinaryOp = typeof BINARY_OPS[number];
export type UnaryOp = typeof UNARY_OPS[number];

/** A broadcast operand: element `i` of the output reads `t[(i / div) % t.numel]`. */
interface Operand {
  t: Tensor;
  div: number;
}

function run(ctx: GpuContext, op: Op, a: Tensor, b: Operand, c: Operand): Tensor {
  const out = Tensor.empty(ctx, a.shape, a.dtype, op);
  ELEMENTWISE.dispatch(ctx, {
    variant: { act_t: actType(a.dtype), op },
    params: { count: a.numel, b_div: b.div, b_len: b.t.numel, c_div: c.div, c_len: c.t.numel },
    bindings: { a: a.binding, b: b.t.binding, c: c.t.binding, out: out.binding },
    workgroups: ELEMENTWISE.grid(ctx, a.numel),
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
  return run(ctx, op, a, { t: b, div: bDiv }, { t: b, div: bDiv });
}

export function unary(ctx: GpuContext, op: UnaryOp, a: Tensor): Tensor {
  assertActivation(a, `unary ${op}`);
  const self = { t: a, div: 1 };
  return run(ctx, op, a, self, self);
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
  return run(ctx, op, h, { t: y, div: 1 }, { t: gate, div: gateDiv });
}
