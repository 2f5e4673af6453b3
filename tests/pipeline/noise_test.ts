import {
  detCosSin2Pi,
  detLog,
  gaussianNoise,
  philox4x32,
  randomSeed,
  seedKey,
} from "../../src/pipeline/noise.ts";
import { assert, assertEquals, assertRejects } from "../assert.ts";

Deno.test("philox4x32 matches the Random123 known-answer vectors", () => {
  const out = new Uint32Array(4);
  const hex = () => Array.from(out, (v) => v.toString(16).padStart(8, "0")).join(" ");
  philox4x32(0, 0, 0, 0, 0, 0, out);
  assertEquals(hex(), "6627e8d5 e169c58d bc57ac4c 9b00dbd8");
  const f = 0xffffffff;
  philox4x32(f, f, f, f, f, f, out);
  assertEquals(hex(), "408f276d 41c83b0e a20bc7c6 6d5451fd");
  philox4x32(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, out);
  assertEquals(hex(), "d16cfe09 94fdcceb 5001e420 24126ea1");
});

Deno.test("the deterministic ln, cos, sin are within a few ulps of Math's", () => {
  let worst = 0;
  for (let i = 1; i <= 20000; i++) {
    const x = i / 20001 + 2 ** -50 * i;
    worst = Math.max(worst, Math.abs(detLog(x) - Math.log(x)) / Math.abs(Math.log(x)));
  }
  for (const x of [2 ** -54, 1e-300, 0.5, 0.7071067811865476, 0.9999999999999999]) {
    worst = Math.max(worst, Math.abs(detLog(x) - Math.log(x)) / Math.abs(Math.log(x)));
  }
  assert(worst < 2e-15, `ln relative error ${worst}`);
  const cs = new Float64Array(2);
  worst = 0;
  for (let i = 0; i <= 20000; i++) {
    const u = i / 20000 + (i < 20000 ? 2 ** -60 * i : 0);
    detCosSin2Pi(u, cs);
    const a = 2 * Math.PI * u;
    worst = Math.max(worst, Math.abs(cs[0] - Math.cos(a)), Math.abs(cs[1] - Math.sin(a)));
  }
  assert(worst < 2e-15, `cos/sin absolute error ${worst}`);
});

Deno.test("gaussianNoise: golden values (fails if the algorithm changes)", () => {
  assertEquals(Array.from(gaussianNoise(0, 8)), [
    -0.12151796370744705,
    -1.3500326871871948,
    -0.08187421411275864,
    -0.2227090448141098,
    1.7764242887496948,
    2.173520803451538,
    -0.5473441481590271,
    -0.4225328862667084,
  ]);
  assertEquals(Array.from(gaussianNoise(42n, 8)), [
    0.8864974975585938,
    0.4393560588359833,
    -0.15660962462425232,
    -0.013718678615987301,
    -0.49410051107406616,
    -0.37216684222221375,
    -0.6798916459083557,
    -0.41020363569259644,
  ]);
  // A prefix of a longer draw is the shorter draw; odd lengths drop the pair's second value.
  const long = gaussianNoise(42, 1001);
  assertEquals(Array.from(long.subarray(0, 8)), Array.from(gaussianNoise(42, 8)));
  assertEquals(Array.from(gaussianNoise(42, 1001)), Array.from(long));
  // The high key word matters: 2^32 + 42 is another stream.
  assert(gaussianNoise(2 ** 32 + 42, 4)[0] !== long[0], "high seed word ignored");
});

Deno.test("gaussianNoise: standard normal statistics on 1e6 values", () => {
  const n = 1_000_000;
  const v = gaussianNoise(12345n, n);
  let s = 0, s2 = 0, s4 = 0, beyond3 = 0;
  for (const x of v) {
    s += x;
    s2 += x * x;
    s4 += x ** 4;
    if (Math.abs(x) > 3) beyond3++;
  }
  const mean = s / n, variance = s2 / n - mean * mean, kurt = s4 / n;
  // 5σ bounds: sd(mean) = 1e-3, sd(var) = √2e-3 ≈ 1.4e-3, sd(E x⁴) = √96e-3 ≈ 9.8e-3.
  assert(Math.abs(mean) < 5e-3, `mean ${mean}`);
  assert(Math.abs(variance - 1) < 7e-3, `variance ${variance}`);
  assert(Math.abs(kurt - 3) < 5e-2, `E[x^4] ${kurt}`);
  // P(|x| > 3) = 0.0026998; sd of the count ≈ 52.
  assert(Math.abs(beyond3 - 2699.8) < 260, `|x| > 3: ${beyond3}`);
  // Neighbouring values are uncorrelated (cos and sin halves of one pair too).
  let c = 0;
  for (let i = 0; i + 1 < n; i++) c += v[i] * v[i + 1];
  assert(Math.abs(c / n) < 5e-3, `lag-1 correlation ${c / n}`);
});

Deno.test("gaussianNoise: 2048² noise in well under a second; seeds differ", () => {
  const t0 = performance.now();
  const a = gaussianNoise(7n, 16384 * 128);
  const ms = performance.now() - t0;
  assert(ms < 1000, `${ms} ms`);
  const b = gaussianNoise(8n, 16384 * 128);
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  assert(same < 10, `${same} equal values for seeds 7 and 8`);
  assertEquals(Array.from(gaussianNoise(7, 16)), Array.from(a.subarray(0, 16)));
});

Deno.test("seeds: number or bigint in range, else an error", async () => {
  assertEquals(seedKey(0), [0, 0]);
  assertEquals(seedKey(2 ** 32 + 5), [5, 1]);
  assertEquals(seedKey((1n << 64n) - 1n), [0xffffffff, 0xffffffff]);
  assertEquals(seedKey(0x1234567890abcdefn), [0x90abcdef, 0x12345678]);
  await assertRejects(() => gaussianNoise(-1, 4), "seed -1");
  await assertRejects(() => gaussianNoise(-1n, 4), "seed -1", "2^64-1");
  await assertRejects(() => gaussianNoise(1n << 64n, 4), "seed 18446744073709551616");
  await assertRejects(() => gaussianNoise(1.5, 4), "seed 1.5");
  await assertRejects(() => gaussianNoise(2 ** 60, 4), "bigint");
  await assertRejects(() => gaussianNoise(1, -2), "noise length -2");
  for (let i = 0; i < 20; i++) {
    const s = randomSeed();
    assert(s >= 0n && s < 1n << 63n, `random seed ${s}`);
  }
  assert(randomSeed() !== randomSeed(), "two random seeds are equal");
});
