/**
 * The pipeline stops at the first non-finite value with the stage and, when
 * a weight is the cause, the tensor: a NaN in a text-encoder, DiT or VAE
 * weight, and initial noise that overflows. Tiny model, 256², 2 steps.
 */
import { assert, assertEquals } from "../assert.ts";
import { readPlatform, withTempDir } from "../io/io_util.ts";
import { testGpu } from "../util.ts";
import { ensureEmbeddedModel } from "../../src/platform/deno/embedded_model.ts";
import { Ideogram4Pipeline } from "../../src/pipeline/pipeline.ts";
import { NonFiniteError } from "../../src/pipeline/nonfinite.ts";
import { latentNormTable } from "../../src/pipeline/latents.ts";
import { damagedModel } from "./damaged_model.ts";

const TINY = await ensureEmbeddedModel();
const REQUEST = { prompt: "a kite", width: 256, height: 256, steps: 2, guidance: 5, seed: 3 };

async function failure(
  dir: string,
  extra: Partial<typeof REQUEST> & { initNoise?: Float32Array } = {},
): Promise<{ err: NonFiniteError; steps: number[]; leaked: number }> {
  const ctx = await testGpu();
  latentNormTable(ctx);
  const before = ctx.pool.stats.liveBytes;
  const pipe = await Ideogram4Pipeline.open(ctx, dir, { platform: readPlatform });
  const steps: number[] = [];
  let err: unknown;
  try {
    await pipe.generate({ ...REQUEST, ...extra, onProgress: (p) => steps.push(p.step) });
  } catch (e) {
    err = e;
  } finally {
    pipe.release();
  }
  await ctx.sync();
  assert(err instanceof NonFiniteError, `expected a NonFiniteError, got ${err}`);
  return { err, steps, leaked: ctx.pool.stats.liveBytes - before };
}

Deno.test("non-finite: a NaN in a weight stops at its stage and names the tensor", async () => {
  const cases = [
    ["text_encoder", /layers\.0\.input_layernorm\.weight$/, "text features", []],
    ["transformer", /^input_proj\.weight\.absmax$/, "step", []],
    ["vae", /conv_in\.bias$/, "decode", [1, 2]],
  ] as const;
  for (const [folder, pick, stage, stepsDone] of cases) {
    await withTempDir(async (dir) => {
      const { model, tensor } = await damagedModel(TINY, dir, folder, pick);
      const { err, steps, leaked } = await failure(model);
      assertEquals(err.stage.kind, stage, err.message);
      if (err.stage.kind === "step") assertEquals(err.stage.step, 1);
      assertEquals(steps, [...stepsDone], `${folder}: steps reported before the stop`);
      assertEquals(err.origin, "weights");
      assertEquals(err.weights.map((w) => [w.folder, w.tensor, w.count]), [[folder, tensor, 1]]);
      assert(err.message.includes(`'${tensor}'`), err.message);
      assert(err.message.includes(stage === "step" ? "sampling step 1/2" : stage), err.message);
      assertEquals(leaked, 0, `${folder}: GPU bytes left after the failed run`);
    });
  }
});

Deno.test("non-finite: overflowing initial noise is blamed on the settings; sound weights", async () => {
  const noise = new Float32Array(256 * 128).fill(3e38);
  const { err, steps } = await failure(TINY, { initNoise: noise });
  assertEquals([err.stage.kind, err.origin, err.weights.length], ["step", "settings", 0]);
  assertEquals(steps, []);
  assert(err.message.includes("guidance, mu, std or the initial noise"), err.message);
});
