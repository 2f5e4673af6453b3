/** CPU reference for `elementwise.ts`, in f64 arithmetic. */
import type { BinaryOp, UnaryOp } from "./elementwise.ts";

const silu = (x: number) => x / (1 + Math.exp(-x));

const BIN: Record<BinaryOp, (x: number, y: number) => number> = {
  add: (x, y) => x + y,
  mul: (x, y) => x * y,
  sub: (x, y) => x - y,
  siluGate: (x, y) => silu(x) * y,
  modulate: (x, y) => x * (1 + y),
};

/** Element `i` of a broadcast operand (see `binary` in elementwise.ts). */
const at = (v: Float32Array, i: number, div: number) => v[Math.floor(i / div) % v.length];

export function binaryRef(op: BinaryOp, a: Float32Array, b: Float32Array, bDiv = 1): Float32Array {
  const f = BIN[op];
  return a.map((x, i) => f(x, at(b, i, bDiv)));
}

export function unaryRef(op: UnaryOp, a: Float32Array): Float32Array {
  return a.map(op === "silu" ? silu : Math.tanh);
}

export function gatedResidualRef(
  h: Float32Array,
  y: Float32Array,
  gate: Float32Array,
  gateDiv = 1,
): Float32Array {
  return h.map((x, i) => x + Math.tanh(at(gate, i, gateDiv)) * y[i]);
}
