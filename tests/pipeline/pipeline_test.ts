/**
 * `Ideogram4Pipeline` end to end on the embedded tiny model against the CPU
 * reference pipeline (same token ids, same initial noise, same steps), plus
 * its refusals, cancellation and memory release.
 */
import { assert, assertEquals } from "../assert.ts";
import { readPlatform, withTempDir } from "../io/io_util.ts";
import { relErr, testGpu } from "../util.ts";
import { tinyDitConfig } from "../models/tiny_dit.ts";
import { Checkpoint } from "../../src/io/checkpoint.ts";
import { loadDiTHostWeights } from "../../src/models/dit_weights.ts";
import { parseQwen3Config } from "../../src/models/qwen3_config.ts";
import { loadQwen3HostWeights } from "../../src/models/qwen3_weights.ts";
import { parseVaeConfig } from "../../src/models/vae_config.ts";
import { loadVaeDecoderWeights } from "../../src/models/vae_weights.ts";
import { latentNormTable } from "../../src/pipeline/latents.ts";
import { gaussianNoise } from "../../src/pipeline/noise.ts";
import { ensureEmbeddedModel } from "../../src/platform/deno/embedded_model.ts";
import { Ideogram4Pipeline } from "../../src/pipeline/pipeline.ts";
import { type MemoryPlan, planMemory } from "../../src/pipeline/memory_plan.ts";
import { checkCheckpoint } from "../../src/pipeline/checkpoint_check.ts";
import { generateRef, type PipelineRefWeights } from "../../src/pipeline/pipeline_ref.ts";
import { resolveSampling } from "../../src/pipeline/presets.ts";
import { eulerSteps } from "../../src/pipeline/schedule.ts";
import { SizeError } from "../../src/pipeline/size.ts";
import { CaptionInvalidError } from "../../src/prompt/errors.ts";

const TINY = await ensureEmbeddedModel();
const opts = { platform: readPlatform };

async function refWeights(): Promise<PipelineRefWeights> {
  const open = (sub: string, stem?: string) =>
    Checkpoint.open(`${TINY}/${sub}`, { stem, platform: readPlatform });
  const text = await open("text_encoder");
  const cond = await open("transformer", "diffusion_pytorch_model");
  const uncond = await open("unconditional_transformer", "diffusion_pytorch_model");
  const vae = await open("vae", "diffusion_pytorch_model");
  try {
    const read = (f: string) => Deno.readTextFile(`${TINY}/${f}/config.json`);
    return {
      encoder: await loadQwen3HostWeights(
        text,
        parseQwen3Config(await read("text_encoder"), "config.json"),
      ),
      cond: await loadDiTHostWeights(cond, tinyDitConfig(), { text: true }),
      uncond: await loadDiTHostWeights(uncond, tinyDitConfig(), { text: false }),
      vae: await loadVaeDecoderWeights(vae, parseVaeConfig(await read("vae"), "config.json")),
    };
  } finally {
    for (const c of [text, cond, uncond, vae]) c.close();
  }
}

Deno.test("pipeline: GPU generation equals the CPU reference pipeline (tiny model, 2 steps)", async () => {
  const ctx = await testGpu();
  const pipe = await Ideogram4Pipeline.open(ctx, TINY, opts);
  try {
    const prompt = '{"high_level_description":"A lighthouse at dusk, 灯台."}';
    const [width, height] = [256, 272];
    const sampling = { steps: 2, guidance: [6, 2.5], mu: 0.25, std: 1.5 };
    const seen: number[] = [];
    const got = await pipe.generate({
      prompt,
      // Not a full caption (no compositional_deconstruction): let through with a warning.
      allowCaptionIssues: true,
      width,
      height,
      seed: 11n,
      ...sampling,
      returnLatents: true,
      onProgress: (p) => seen.push(p.step),
    });
    assertEquals(seen, [1, 2]);
    assertEquals(got.warnings, ["caption: 'compositional_deconstruction' is required"]);
    assertEquals([got.width, got.height, got.rgb.length], [width, height, width * height * 3]);
    assert(got.seed === 11n, `seed ${got.seed}`);
    const { ids } = (await pipe.loadTokenizer()).encodePrompt(prompt);
    assertEquals(got.tokens, ids.length);
    const [gh, gw] = [height / 16, width / 16];
    const ref = generateRef(await refWeights(), {
      ids,
      noise: gaussianNoise(11n, gh * gw * 128),
      gh,
      gw,
      steps: eulerSteps(resolveSampling(sampling), width, height),
    });
    const eLat = relErr(got.latents!, ref.latents);
    let maxDiff = 0, differing = 0;
    for (let i = 0; i < ref.rgb.length; i++) {
      const d = Math.abs(got.rgb[i] - ref.rgb[i]);
      maxDiff = Math.max(maxDiff, d);
      if (d) differing++;
    }
    console.log(
      `  latents vs CPU ${eLat.toExponential(2)}; pixels: max diff ${maxDiff}, ` +
        `${differing} of ${ref.rgb.length} bytes differ`,
    );
    assert(eLat <= 1e-4, `latents: ${eLat}`);
    // f32 rounding may flip a byte's rounding, never more.
    assert(maxDiff <= 1 && differing <= ref.rgb.length / 100, `pixels: ${maxDiff}, ${differing}`);
  } finally {
    pipe.release();
  }
});

Deno.test("pipeline: size, sampling and noise are checked before any weight is read", async () => {
  const ctx = await testGpu();
  await withTempDir(async (dir) => {
    // A folder that looks like a checkpoint but whose weights would fail to load.
    for (const f of ["text_encoder", "transformer", "unconditional_transformer", "vae"]) {
      await Deno.mkdir(`${dir}/${f}`, { recursive: true });
      await Deno.writeTextFile(`${dir}/${f}/config.json`, "{}");
      await Deno.writeTextFile(`${dir}/${f}/model.safetensors`, "not safetensors");
    }
    await Deno.mkdir(`${dir}/tokenizer`);
    await Deno.writeTextFile(`${dir}/tokenizer/tokenizer.json`, "not json");
    const pipe = await Ideogram4Pipeline.open(ctx, dir, opts);
    const fails = async (o: Parameters<typeof pipe.generate>[0], mention: string) => {
      let err: unknown;
      try {
        await pipe.generate(o);
      } catch (e) {
        err = e;
      }
      assert(err instanceof Error, "expected an error");
      assert(err.message.includes(mention), `"${err.message}" should mention ${mention}`);
      return err;
    };
    assert(await fails({ prompt: "x", width: 1000, height: 1024 }, "1000") instanceof SizeError);
    await fails({ prompt: "x", width: 256, height: 256, preset: "NOPE" }, "V4_TURBO_12");
    await fails(
      { prompt: "x", width: 256, height: 256, initNoise: new Float32Array(5) },
      "[256, 128]",
    );
    // A JSON caption with issues is refused before anything is read, as upstream's pipeline does.
    const refused = await fails(
      { prompt: '{"high_level_description":"h"}', width: 256, height: 256 },
      "set allowCaptionIssues",
    );
    assert(refused instanceof CaptionInvalidError, refused.name);
    // The first weight-related error only comes once the request is valid.
    await fails({ prompt: "x", width: 256, height: 256, steps: 1 }, "tokenizer.json");
    pipe.release();
  });
  let missing: unknown;
  try {
    await Ideogram4Pipeline.open(ctx, "/nonexistent/ckpt", opts);
  } catch (e) {
    missing = e;
  }
  assert(missing instanceof Error && missing.message.includes("/nonexistent/ckpt"));
  assert(missing.message.includes("transformer/*.safetensors"), missing.message);
});

Deno.test("pipeline: cancel stops between steps and frees the step's tensors; release frees weights", async () => {
  const ctx = await testGpu();
  latentNormTable(ctx); // owned by the context for its whole life
  const before = ctx.pool.stats.liveBytes;
  const pipe = await Ideogram4Pipeline.open(ctx, TINY, opts);
  const request = { prompt: "stop after one step", width: 256, height: 256, guidance: 5, seed: 1 };
  // A finished run leaves the transformers and the VAE loaded (the encoder is freed).
  await pipe.generate({ ...request, steps: 1 });
  const loaded = ctx.pool.stats.liveBytes;
  const abort = new AbortController();
  let err: unknown;
  try {
    await pipe.generate({
      ...request,
      steps: 4,
      signal: abort.signal,
      onProgress: (p) => p.step === 1 && abort.abort(),
    });
  } catch (e) {
    err = e;
  }
  assert(err instanceof DOMException && err.name === "AbortError", String(err));
  // Nothing of the interrupted run (latents, features, velocities, encoder) is left.
  assertEquals(ctx.pool.stats.liveBytes, loaded);
  pipe.release();
  await ctx.sync();
  assertEquals(ctx.pool.stats.liveBytes, before);
});

Deno.test("pipeline: small GPU budgets free the DiTs before decoding or stream them; same image", async () => {
  const ctx = await testGpu();
  const request = { prompt: "a kite", width: 256, height: 256, steps: 2, guidance: 5, seed: 3 };
  const resident = await Ideogram4Pipeline.open(ctx, TINY, opts);
  const want = await resident.generate(request);
  resident.release();

  // For the tiny model the VAE's activations set the peak: a budget with room for the
  // decode but not for the DiTs beside it makes the plan free them first.
  const check = await checkCheckpoint(TINY, { platform: readPlatform, prompt: request.prompt });
  const roomy = await planMemory(TINY, {
    width: 256,
    height: 256,
    textTokens: check.promptTokens!,
    budgetBytes: 2 ** 30,
    steps: 2,
  }, { platform: readPlatform, gpu: { limits: ctx.limits, features: ctx.features } });
  const [encode, sampling, decode] = roomy.stages.map((s) => s.bytes);
  assert(decode > Math.max(encode, sampling), JSON.stringify(roomy.stages));
  const dits = roomy.components.cond.gpuBytes + roomy.components.uncond.gpuBytes;
  const budget = Math.ceil((decode - dits) / (1 - roomy.request.reserveFraction)) + 4;
  const plans: MemoryPlan[] = [];
  const small = await Ideogram4Pipeline.open(ctx, TINY, {
    ...opts,
    gpuBudgetBytes: budget,
    onPlan: (p) => plans.push(p),
  });
  try {
    const got = await small.generate(request);
    assertEquals(plans.length, 1);
    assert(plans[0].fits && plans[0].freeTransformersBeforeDecode, JSON.stringify(plans[0]));
    assertEquals(got.rgb, want.rgb, "same bytes");
    // The same request again plans once: the kept plan, not a new shape-only run.
    const again = await small.planMemory(256, 256, plans[0].request.textTokens, 2);
    assert(again === plans[0], "the pipeline keeps its plans");
    const other = await small.planMemory(256, 256, plans[0].request.textTokens + 1, 2);
    assert(other !== plans[0] && other.request.textTokens === plans[0].request.textTokens + 1);
  } finally {
    small.release();
  }

  // Both DiTs streamed (what the plan picks when they do not fit): the same bytes.
  const streamed = await Ideogram4Pipeline.open(ctx, TINY, {
    ...opts,
    residency: { cond: "stream", uncond: "stream" },
  });
  try {
    assertEquals((await streamed.generate(request)).rgb, want.rgb, "streamed = resident");
    const { cond, uncond } = await streamed.loadTransformers({ cond: "stream", uncond: "stream" });
    assertEquals([cond.residency, uncond.residency], ["stream", "stream"]);
  } finally {
    streamed.release();
  }

  const tiny = await Ideogram4Pipeline.open(ctx, TINY, { ...opts, gpuBudgetBytes: 100_000 });
  const live = ctx.pool.stats.liveBytes;
  let err: unknown;
  try {
    await tiny.generate(request);
  } catch (e) {
    err = e;
  }
  assert(err instanceof Error && err.message.includes("--gpu-memory"), String(err));
  assertEquals(ctx.pool.stats.liveBytes, live, "nothing was loaded");
  tiny.release();
});
