/**
 * Random checkpoint bytes: the same whether a tensor is filled at once or in
 * chunks (make-checkpoint writes large tensors 64 MiB at a time), different
 * per tensor name and seed, and every init kind lands on plausible values.
 */
import { assert, assertEquals } from "../assert.ts";
import { TensorFiller } from "../../src/checkpoint/random.ts";
import type { LayoutTensor } from "../../src/checkpoint/layout.ts";
import { bf16ToF32, fp8e4m3ToF32 } from "../../src/dtype.ts";

const tensors: [string, LayoutTensor][] = [
  ["codes", { dtype: "U8", shape: [100_003], init: { kind: "bytes" } }],
  ["fp8", { dtype: "F8_E4M3", shape: [317, 129], init: { kind: "fp8" } }],
  ["bf16", { dtype: "BF16", shape: [50_001], init: { kind: "normal", std: 0.5, mean: 1 } }],
  ["f32", { dtype: "F32", shape: [999], init: { kind: "uniform", lo: 2, hi: 3 } }],
];

function fill(name: string, t: LayoutTensor, seed: number, chunk: number): Uint8Array {
  const size = t.shape.reduce((a, b) => a * b, 1) * { U8: 1, F8_E4M3: 1, BF16: 2, F32: 4 }[
    t.dtype as "U8"
  ];
  const out = new Uint8Array(size);
  const f = new TensorFiller(name, t, seed);
  for (let at = 0; at < size; at += chunk) f.fill(out.subarray(at, Math.min(size, at + chunk)));
  return out;
}

Deno.test("random bytes do not depend on the chunk size, and differ per name and seed", () => {
  for (const [name, t] of tensors) {
    const whole = fill(name, t, 5, 1 << 30);
    for (const chunk of [4, 4096, 65_540]) assertEquals(fill(name, t, 5, chunk), whole, name);
    const other = fill(name, t, 6, 1 << 30), renamed = fill(name + "x", t, 5, 1 << 30);
    for (const b of [other, renamed]) {
      let same = 0;
      for (let i = 0; i < b.length; i++) if (b[i] === whole[i]) same++;
      assert(same < b.length / 2, `${name}: ${same} of ${b.length} bytes equal`);
    }
  }
});

Deno.test("random values: normal bf16 near its mean and spread, fp8 finite, uniform in range", () => {
  const [, , [, bf], [, u]] = tensors;
  const b = new Uint16Array(fill("bf16", bf, 1, 1 << 30).buffer);
  let s = 0, s2 = 0;
  for (const x of b) {
    const v = bf16ToF32(x);
    s += v;
    s2 += v * v;
  }
  const mean = s / b.length, std = Math.sqrt(s2 / b.length - mean * mean);
  assert(Math.abs(mean - 1) < 0.02 && Math.abs(std - 0.5) < 0.02, `bf16 ${mean} ± ${std}`);
  const f8 = fill("fp8", tensors[1][1], 1, 1 << 30);
  assert(f8.every((x) => Number.isFinite(fp8e4m3ToF32(x))), "fp8 NaN code");
  const f = new Float32Array(fill("f32", u, 1, 1 << 30).buffer);
  assert(f.every((v) => v >= 2 && v <= 3), "uniform out of range");
});
