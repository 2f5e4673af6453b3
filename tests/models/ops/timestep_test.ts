import { ditTimeInput } from "../../../src/models/dit.ts";
import { sinusoidEmbedding } from "../../../src/models/ops/timestep.ts";
import { assert, assertEquals, assertRejects } from "../../assert.ts";

Deno.test("sinusoidEmbedding matches an independent power-form computation", () => {
  // f_k = base^(-k / (half - 1)) written with pow instead of exp/log.
  for (const [s, dim] of [[0.37, 16], [1e4 * 0.8137, 4608], [123.25, 11]]) {
    const got = sinusoidEmbedding(s, dim), half = Math.floor(dim / 2);
    for (let k = 0; k < half; k++) {
      const a = s * Math.pow(1e4, -k / (half - 1));
      assert(Math.abs(got[k] - Math.sin(a)) < 1e-6, `sin s=${s} d=${dim} k=${k}`);
      assert(Math.abs(got[half + k] - Math.cos(a)) < 1e-6, `cos s=${s} d=${dim} k=${k}`);
    }
    if (dim % 2) assertEquals(got[dim - 1], 0, "odd dim pads a zero");
  }
});

Deno.test("sinusoidEmbedding end points: f_0 = 1 and f_{half-1} = 1e-4", () => {
  const e = sinusoidEmbedding(5000, 8); // half = 4
  assert(Math.abs(e[0] - Math.sin(5000)) < 1e-7 && Math.abs(e[4] - Math.cos(5000)) < 1e-7);
  assert(Math.abs(e[3] - Math.sin(0.5)) < 1e-7 && Math.abs(e[7] - Math.cos(0.5)) < 1e-7);
  // t = 0: all sines 0, all cosines 1.
  const z = ditTimeInput(0, 4608, false);
  assert(z.subarray(0, 2304).every((v) => v === 0) && z.subarray(2304).every((v) => v === 1));
});

Deno.test("ditTimeInput scales t by 1e4 and rejects t outside [0, 1]", async () => {
  assertEquals(Array.from(ditTimeInput(0.25, 64, false)), Array.from(sinusoidEmbedding(2500, 64)));
  await assertRejects(() => ditTimeInput(1.5, 64, false), "t = 1.5");
  await assertRejects(() => sinusoidEmbedding(1, 3), "dimension 3");
});
