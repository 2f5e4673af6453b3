import {
  PRESET_NAMES,
  PRESETS,
  resolveSampling,
  type SamplingPlan,
} from "../../src/pipeline/presets.ts";
import { assertEquals, assertRejects } from "../assert.ts";

/** `main` steps at 7.0 then `polish` at 3.0. */
function shape(main: number, polish: number): number[] {
  return [...new Array(main).fill(7), ...new Array(polish).fill(3)];
}

Deno.test("presets match the spec's table (guidance chronological: 3.0 at the end)", () => {
  assertEquals(PRESETS.V4_QUALITY_48, { steps: 48, guidance: shape(45, 3), mu: 0, std: 1.5 });
  assertEquals(PRESETS.V4_DEFAULT_20, { steps: 20, guidance: shape(18, 2), mu: 0, std: 1.75 });
  assertEquals(PRESETS.V4_TURBO_12, { steps: 12, guidance: shape(11, 1), mu: 0.5, std: 1.75 });
  assertEquals([...PRESET_NAMES], Object.keys(PRESETS));
});

Deno.test("resolveSampling: default and named presets", () => {
  const want: SamplingPlan = { preset: "V4_QUALITY_48", ...PRESETS.V4_QUALITY_48 };
  assertEquals(resolveSampling({}), want);
  for (const name of PRESET_NAMES) {
    assertEquals(resolveSampling({ preset: name }), { preset: name, ...PRESETS[name] });
  }
  // The plan is a copy: changing it does not change the preset table.
  resolveSampling({}).guidance[0] = 99;
  assertEquals(PRESETS.V4_QUALITY_48.guidance[0], 7);
});

Deno.test("resolveSampling: overrides make a custom plan", () => {
  // steps alone: the default preset's shape, 3 of 48 polish steps scaled (half up), at least 1.
  assertEquals(resolveSampling({ steps: 30 }), {
    steps: 30,
    guidance: shape(28, 2),
    mu: 0,
    std: 1.5,
  });
  assertEquals(resolveSampling({ steps: 100 }).guidance, shape(94, 6));
  assertEquals(resolveSampling({ steps: 8 }).guidance, shape(7, 1));
  assertEquals(resolveSampling({ steps: 2 }).guidance, shape(1, 1));
  assertEquals(resolveSampling({ steps: 1 }).guidance, [7]);
  assertEquals(resolveSampling({ preset: "V4_TURBO_12", steps: 24 }), {
    steps: 24,
    guidance: shape(22, 2),
    mu: 0.5,
    std: 1.75,
  });
  assertEquals(resolveSampling({ preset: "V4_DEFAULT_20", guidance: 4.5, mu: -1, std: 2 }), {
    steps: 20,
    guidance: new Array(20).fill(4.5),
    mu: -1,
    std: 2,
  });
  assertEquals(resolveSampling({ steps: 3, guidance: [5] }).guidance, [5, 5, 5]);
  assertEquals(resolveSampling({ steps: 3, guidance: [1, 2, 3] }).guidance, [1, 2, 3]);
  assertEquals(resolveSampling({ steps: 48 }).preset, undefined);
});

Deno.test("resolveSampling rejects bad options with clear errors", async () => {
  await assertRejects(
    () => resolveSampling({ preset: "V4_FAST" }),
    "unknown sampler preset 'V4_FAST'",
    "V4_QUALITY_48, V4_DEFAULT_20, V4_TURBO_12",
  );
  for (const steps of [0, -3, 2.5, 1001, NaN]) {
    await assertRejects(() => resolveSampling({ steps }), `steps ${steps}`, "1 to 1000");
  }
  await assertRejects(() => resolveSampling({ steps: 4, guidance: [1, 2] }), "2 values", "4 steps");
  await assertRejects(() => resolveSampling({ guidance: [1, 2, 3] }), "3 values", "48 steps");
  await assertRejects(() => resolveSampling({ guidance: NaN }), "guidance value NaN");
  await assertRejects(() => resolveSampling({ steps: 2, guidance: [1, Infinity] }), "step 2");
  await assertRejects(() => resolveSampling({ std: 0 }), "std 0", "> 0");
  await assertRejects(() => resolveSampling({ std: -1 }), "std -1");
  await assertRejects(() => resolveSampling({ mu: Infinity }), "mu Infinity");
  // Finite in float64, but not in f32 or not a usable schedule: refused too.
  await assertRejects(() => resolveSampling({ guidance: 1e308 }), "guidance value 1e+308", "1000");
  await assertRejects(() => resolveSampling({ guidance: -1001 }), "guidance value -1001");
  await assertRejects(() => resolveSampling({ mu: -1e300 }), "mu -1e+300", "-100 to 100");
  await assertRejects(() => resolveSampling({ std: 1e9 }), "std 1000000000", "≤ 100");
  assertEquals(resolveSampling({ guidance: -1000, mu: 100, std: 100 }).mu, 100);
});
