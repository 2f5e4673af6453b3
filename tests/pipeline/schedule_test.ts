import { PRESET_NAMES, PRESETS, resolveSampling } from "../../src/pipeline/presets.ts";
import {
  eulerSteps,
  inverseNormalCdf,
  logitNormalSchedule,
  scheduleMean,
  T_MAX,
  T_MIN,
} from "../../src/pipeline/schedule.ts";
import { assert, assertEquals } from "../assert.ts";

function assertRel(got: number, want: number, tol: number, what: string) {
  const e = Math.abs(got - want) / Math.max(Math.abs(want), 1e-300);
  assert(e <= tol, `${what}: got ${got}, want ${want} (relative error ${e.toExponential(2)})`);
}

/** erfc(x) for x ≥ 0: power series of erf below 1.5, continued fraction above. */
function erfc(x: number): number {
  if (x < 1.5) {
    // erf(x) = 2/√π e^{-x²} Σ 2^n x^{2n+1} / (1·3·…·(2n+1)): positive terms, no cancellation.
    let term = x, sum = x;
    for (let n = 1; n < 200; n++) {
      term *= (2 * x * x) / (2 * n + 1);
      sum += term;
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * Math.exp(-x * x) * sum;
  }
  // erfc(x) = e^{-x²}/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))), evaluated backwards.
  let f = x;
  for (let n = 2000; n >= 1; n--) f = x + (n / 2) / f;
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}

/** Φ(x) without cancellation in either tail. */
function normalCdf(x: number): number {
  return x < 0 ? 0.5 * erfc(-x / Math.SQRT2) : 1 - 0.5 * erfc(x / Math.SQRT2);
}

Deno.test("inverseNormalCdf matches high-precision quantiles", () => {
  // Quantiles of the float64 p, from mpmath at 50 digits.
  const known: [number, number][] = [
    [0.975, 1.9599639845400538556],
    [1e-10, -6.3613409024040561991],
    [1e-20, -9.2623400897984075796],
    [1e-300, -37.047096299361199237],
    [5e-324, -38.467405617144346251],
    [0.3, -0.52440051270804081597],
    [0.8, 0.8416212335729143638],
    [0.02, -2.0537489106318230443],
    [1 - 1e-10, 6.3613408896974218642],
    [0.999, 3.0902323061678132778],
  ];
  for (const [p, x] of known) assertRel(inverseNormalCdf(p), x, 2e-15, `Φ⁻¹(${p})`);
  assertEquals(inverseNormalCdf(0.5), 0);
  assertEquals(inverseNormalCdf(0), -Infinity);
  assertEquals(inverseNormalCdf(1), Infinity);
  for (const p of [-0.1, 1.5, NaN]) assert(Number.isNaN(inverseNormalCdf(p)), `Φ⁻¹(${p})`);
});

Deno.test("inverseNormalCdf is odd and inverts an erf-based Φ", () => {
  for (let k = 1; k < 1000; k++) {
    const p = k / 1000;
    // Φ⁻¹(p) = -Φ⁻¹(1 - p); the tolerance covers the rounding of 1 - p.
    assertRel(inverseNormalCdf(p), -inverseNormalCdf(1 - p), 1e-13, `symmetry at ${p}`);
    assertRel(normalCdf(inverseNormalCdf(p)), p, 1e-13, `Φ(Φ⁻¹(${p}))`);
  }
  for (const p of [1e-3, 1e-5, 1e-8, 0.0247, 0.0243, 1e-15, 1e-40, 1e-100, 1e-250]) {
    assertRel(normalCdf(inverseNormalCdf(p)), p, 1e-12, `Φ(Φ⁻¹(${p}))`);
  }
});

Deno.test("logitNormalSchedule clamps to [T_MIN, T_MAX]", () => {
  assertRel(T_MIN, 1.2339457598623172e-4, 1e-15, "T_MIN");
  assertRel(T_MAX, 0.9994472213630764, 1e-15, "T_MAX");
  assertEquals(logitNormalSchedule(1, 0.3, 1.5), T_MIN);
  assertEquals(logitNormalSchedule(0, 0.3, 1.5), T_MAX);
  // u = ½: Φ⁻¹ = 0, so t = 1 - sigmoid(mean).
  assertRel(logitNormalSchedule(0.5, Math.log(2), 1.5), 1 / 3, 1e-15, "sched(½) at mean ln 2");
});

Deno.test("eulerSteps: 48 steps at 1024² against values from scipy (ndtri, expit)", () => {
  const steps = eulerSteps(resolveSampling({}), 1024, 1024);
  assertEquals(steps.length, 48);
  assertRel(scheduleMean(0, 1024, 1024), Math.log(2), 1e-15, "mean at 1024²");
  const want: [number, number, number][] = [
    [0, 0.00012339457598623172, 0.023013352860703717],
    [1, 0.023013352860703717, 0.03589356126287968],
    [24, 0.33333333333333337, 0.35096972229516976],
    [47, 0.9138915228631311, 0.9994472213630764],
  ];
  for (const [n, t, s] of want) {
    assertRel(steps[n].t, t, 1e-14, `step ${n} t`);
    assertRel(steps[n].s, s, 1e-14, `step ${n} s`);
  }
  const turbo = eulerSteps(resolveSampling({ preset: "V4_TURBO_12" }), 768, 1344);
  assertRel(scheduleMean(0.5, 768, 1344), 1.1852730020758757, 1e-15, "turbo mean at 768x1344");
  assertRel(turbo[6].t, 0.23410542133488743, 1e-14, "turbo step 6 t");
  assertRel(turbo[6].s, 0.3063958931822267, 1e-14, "turbo step 6 s");
});

Deno.test("eulerSteps: chained, monotone, from T_MIN to T_MAX, guidance in execution order", () => {
  for (const name of PRESET_NAMES) {
    for (const [w, h] of [[1024, 1024], [256, 1536], [2048, 2048]]) {
      const plan = resolveSampling({ preset: name });
      const steps = eulerSteps(plan, w, h);
      assertEquals(steps.length, PRESETS[name].steps, name);
      assertEquals(steps[0].t, T_MIN, `${name} first t`);
      assertEquals(steps[steps.length - 1].s, T_MAX, `${name} last s`);
      for (let n = 0; n < steps.length; n++) {
        assert(steps[n].s > steps[n].t, `${name} ${w}x${h} step ${n}: s ≤ t`);
        if (n > 0) assertEquals(steps[n].t, steps[n - 1].s, `${name} step ${n} chains`);
      }
      // The reference lists guidance by its count-down loop index, index 0 = LAST step:
      // (3.0,)*polish + (7.0,)*main. Its step i runs as our step steps-1-i.
      const polish = { V4_QUALITY_48: 3, V4_DEFAULT_20: 2, V4_TURBO_12: 1 }[name];
      const reference = [...new Array(polish).fill(3), ...new Array(steps.length - polish).fill(7)];
      for (let i = 0; i < steps.length; i++) {
        assertEquals(steps[steps.length - 1 - i].guidance, reference[i], `${name} loop index ${i}`);
      }
      assertEquals(steps[steps.length - 1].guidance, 3, `${name}: the last step polishes`);
      assertEquals(steps[0].guidance, 7, `${name}: the first step uses full guidance`);
    }
  }
});

Deno.test("eulerSteps: larger images shift the schedule toward noise", () => {
  const plan = resolveSampling({ preset: "V4_DEFAULT_20" });
  const small = eulerSteps(plan, 512, 512), large = eulerSteps(plan, 2048, 2048);
  assertEquals(scheduleMean(0, 512, 512), 0);
  for (let n = 0; n < 19; n++) assert(large[n].s < small[n].s, `step ${n}`);
});
