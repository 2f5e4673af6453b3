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

export function binaryRef(op: BinaryOp, a: Float32Array, b: Float32Array, bDiv = 1): Float32Array {
  const f = BIN[op];
  return a.map((x, i) => f(x, b[Math.floor(i / bDiv) % b.length]));
}

export function unaryRef(op: UnaryOp, a: Float32Array): Float32Array {
  return a.map(op === "silu" ? silu : Math.tanh);
}
