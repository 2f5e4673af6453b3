/**
 * The memory planner's arithmetic against numbers worked out by hand: GPU
 * bytes of each weight format, the released model's components, activation
 * peaks (text encoder, DiT, VAE whole and in bands), and the residency
 * decisions at budgets just above and below each threshold.
 */
import { assert, assertEquals, assertRejects } from "../assert.ts";
import { IDEOGRAM4_DIT } from "../../src/models/dit_config.ts";
import { FLUX2_VAE_DECODER, type VaeDecoderConfig } from "../../src/models/vae_config.ts";
import {
  affineGpuBytes,
  type DiTFootprint,
  ditGpuBytes,
  type DiTShape,
  linearGpuBytes,
  type ModelFootprint,
  type TextEncoderShape,
  uniformDiTFootprint,
  uniformTextEncoderFootprint,
  vaeFootprint,
} from "../../src/pipeline/memory_footprint.ts";
import {
  DEFAULT_GPU_BUDGET_BYTES,
  ditActivationBytes,
  formatPlan,
  GIB,
  planMemory,
  samplingActivationBytes,
  textEncoderActivationBytes,
  vaeActivationBytes,
} from "../../src/pipeline/memory_plan.ts";

const QWEN3_8B: TextEncoderShape = {
  hiddenSize: 4096,
  numHeads: 32,
  numKvHeads: 8,
  headDim: 128,
  intermediateSize: 12288,
  vocabSize: 151936,
};

Deno.test("memory: GPU bytes of one Linear in each format, with bands and biases", async () => {
  // nf4 [8, 64]: 512 values → 256 packed bytes + f32 table (16 codes + 8 absmax) = 96.
  assertEquals(linearGpuBytes({ format: "nf4", out: 8, in: 64, blocksize: 64 }), 352);
  // Two bands of 4 rows: each 128 + 4·(16 + 4) = 208.
  assertEquals(linearGpuBytes({ format: "nf4", out: 8, in: 64, blocksize: 64 }, 2), 416);
  // fp8 [3, 5]: 15 bytes → 16 (4-byte buffers) + 3 f32 scales.
  assertEquals(linearGpuBytes({ format: "fp8", out: 3, in: 5 }), 16 + 12);
  assertEquals(linearGpuBytes({ format: "dense", dtype: "bf16", out: 3, in: 5 }), 32);
  assertEquals(linearGpuBytes({ format: "dense", dtype: "f32", out: 3, in: 5 }), 60);
  // AdaLN-like: 4 bands of [2, 64] nf4 (64 + 4·18 each) + the f32 bias in 4 slices of 8 bytes.
  const mod = { w: { format: "nf4" as const, out: 8, in: 64, blocksize: 64 }, bias: { length: 8 } };
  assertEquals(affineGpuBytes(mod, 4), 4 * 136 + 4 * 8);
  await assertRejects(
    () => linearGpuBytes({ format: "fp8", out: 5, in: 2 }, 2),
    "5 rows",
    "2 bands",
  );
});

Deno.test("memory: the released DiT, nf4 and fp8, as the uploads store it", () => {
  // nf4 block: qkv 3 × ([4608²] 10616832 packed + 4·(16 + 331776) table) = 35832000,
  // o 11944000, w1/w2/w3 3 × (28311552 + 4·(16 + 884736)) = 95551680, AdaLN 4 bands
  // × (1179648 + 4·(16 + 36864)) + bias 73728 = 5382400, norms 2·1024 + 4·18432 = 75776.
  const nf4 = uniformDiTFootprint(IDEOGRAM4_DIT, "nf4");
  assertEquals(nf4.blockBytes.length, 34);
  assertEquals(nf4.blockBytes[0], 35832000 + 11944000 + 95551680 + 5382400 + 75776);
  assertEquals(nf4.blockBytes[0], 148785856);
  // Globals: input_proj 350272, llm_cond_proj 138037312, llm_cond_norm 212992,
  // t_embedding 2 × 11962432, adaln_proj 1329216, final linear 332352, final mod 1345600.
  assertEquals(nf4.globalBytes, 165532608);
  assertEquals(ditGpuBytes(nf4), 165532608 + 34 * 148785856); // 5224251712 ≈ 4.87 GiB
  // Without text conditioning: less llm_cond_proj and llm_cond_norm.
  const uncond = uniformDiTFootprint(IDEOGRAM4_DIT, "nf4", false);
  assertEquals(ditGpuBytes(uncond), 5224251712 - 138037312 - 212992);
  assertEquals(nf4.formats, { nf4: 7 + 34 * 6 });
  // fp8 block: qkv 3 × (21233664 + 18432) + o 21252096 + w1/w3 2 × 56672256
  // + w2 56641536 + AdaLN 4 × 2377728 + 73728 + norms 75776.
  const fp8 = uniformDiTFootprint(IDEOGRAM4_DIT, "fp8");
  assertEquals(fp8.blockBytes[0], 264654848);
  assertEquals(fp8.globalBytes, 294134784);
  assertEquals(ditGpuBytes(fp8), 9292399616);
});

Deno.test("memory: the released text encoder (layers 0 … 35) and VAE decoder", () => {
  // nf4 layer: q, o 2 × 9437248; k, v 2 × 2359360; gate/up/down 3 × 28311616;
  // norms 2·16384 + 2·512 = 33792 → 108561856; 36 layers.
  const nf4 = uniformTextEncoderFootprint(QWEN3_8B, "nf4");
  assertEquals(nf4.gpuBytes, 36 * 108561856);
  assertEquals(nf4.hostBytes, 151936 * 4096 * 2);
  // fp8 layer: q, o 2 × 16793600; k, v 2 × 4198400; gate, up 2 × 50380800; down 50348032; norms.
  assertEquals(uniformTextEncoderFootprint(QWEN3_8B, "fp8").gpuBytes, 36 * 193127424);
  // Flux2 decoder in f32 (parameters × 4): post_quant 4224, conv_in 591872, mid resnets
  // 37773312, attention 4206592, up blocks 66099200 · 2 + 19421184 + 4270592, out 14860.
  assertEquals(vaeFootprint(FLUX2_VAE_DECODER).gpuBytes, 198481036);
});

Deno.test("memory: activation peaks of the text encoder and the DiT passes", () => {
  // 2048 tokens: features 4·2048·13·4096 + rope 8·2048·64 + 4·2048·max(attention
  // 4096 + 2·4096 + 3·1024, MLP 4096 + 3·12288 = 40960).
  assertEquals(
    textEncoderActivationBytes(QWEN3_8B, 2048),
    436207616 + 1048576 + 4 * 2048 * 40960,
  );
  // Conditional pass over 2048 + 4096 tokens: the FFN phase, 6144 · (4608 + 3·12288) · 4.
  assertEquals(ditActivationBytes(IDEOGRAM4_DIT, 2048, 4096), 6144 * 41472 * 4);
  // Entry phase wins with one image token and a long text: 2048·(53248 + 4608) + 2049·4608 + 4608.
  assertEquals(
    ditActivationBytes(IDEOGRAM4_DIT, 2048, 1),
    4 * (2048 * 57856 + 2049 * 4608 + 4608),
  );
  // Sampling: features f32, latents + 2 velocities, both rope layouts, then the cond pass.
  assertEquals(
    samplingActivationBytes(IDEOGRAM4_DIT, IDEOGRAM4_DIT, 2048, 4096),
    436207616 + 12 * 4096 * 128 + 8 * 6144 * 128 + 8 * 4096 * 128 + 1019215872,
  );
});

/** Two up blocks of one resnet each, 8 and 16 channels: ×2 scale, small enough to walk by hand. */
const TINY_VAE: VaeDecoderConfig = {
  blockOutChannels: [8, 16],
  layersPerBlock: 0,
  latentChannels: 4,
  outChannels: 3,
  normGroups: 4,
  normEps: 1e-6,
  midBlockAttention: true,
  usePostQuantConv: true,
};

Deno.test("memory: the VAE's activation peak, whole maps and row bands", async () => {
  // 1024² Flux2: the top level's first resnet (256 → 128) holds its input, the
  // GroupNorm'd input and the first conv's output: 640 channels of 1024² f32,
  // plus the 128² × 32 latent.
  assertEquals(vaeActivationBytes(FLUX2_VAE_DECODER, 1024, 1024), 640 * 4 * 2 ** 20 + 2097152);
  // Tiny, 32×32 image (16×16 latent), one band per level: level 1's resnet 16 → 8:
  // input + normed input + output = 40 channels × 32² × 4 = 163840, + latent 4096.
  assertEquals(vaeActivationBytes(TINY_VAE, 32, 32), 163840 + 4096);
  // 16 KiB bindings: level 1 rows are 32·16·4 = 2048 bytes → bands of ≤ 6 rows (6 + 2 halo
  // rows fit). Resnet 16 → 8: input 65536 + output 32768 + a normed band (8 rows ·
  // 32 · 16 · 4 = 16384). Level 0 (16 KiB exactly) stays whole.
  assertEquals(vaeActivationBytes(TINY_VAE, 32, 32, 4, 16384), 65536 + 32768 + 16384 + 4096);
  await assertRejects(() => vaeActivationBytes(TINY_VAE, 33, 32), "33x32", "multiple of 2");
});

/** A DiT small enough for hand activations: 3 blocks of 100000 bytes. */
const TINY_DIT: DiTShape = {
  embDim: 8,
  numLayers: 3,
  numHeads: 2,
  headDim: 4,
  intermediateSize: 16,
  adanlnDim: 4,
  inChannels: 128,
  llmFeaturesDim: 52,
};
const dit = (globalBytes: number): DiTFootprint => ({
  shape: TINY_DIT,
  text: true,
  globalBytes,
  blockBytes: [100000, 100000, 100000],
  formats: { nf4: 20 },
});
const TINY_MODEL: ModelFootprint = {
  textEncoder: {
    shape: {
      hiddenSize: 4,
      numHeads: 2,
      numKvHeads: 1,
      headDim: 2,
      intermediateSize: 8,
      vocabSize: 10,
    },
    gpuBytes: 200000,
    hostBytes: 80,
    formats: { nf4: 7 },
  },
  cond: dit(10000), // 310000 in all
  uncond: dit(6000), // 306000
  vae: { config: TINY_VAE, actBytes: 4, gpuBytes: 5000 },
};

Deno.test("memory: plan stages and residency, at budgets either side of each threshold", () => {
  // Activations by hand: text encoder at 3 tokens 624 + 24 + 4·3·28 = 984; sampling
  // 624 + 6144 + 112 + 64 held + cond pass 4·7·56 = 8512; VAE 167936 (see above).
  assertEquals(textEncoderActivationBytes(TINY_MODEL.textEncoder.shape, 3), 984);
  assertEquals(samplingActivationBytes(TINY_DIT, TINY_DIT, 3, 4), 8512);
  const req = { width: 32, height: 32, textTokens: 3, steps: 10, reserveFraction: 0 };
  const plan = (budgetBytes: number, keepTextEncoder = false) =>
    planMemory(TINY_MODEL, { ...req, budgetBytes, keepTextEncoder });
  const stages = (p: ReturnType<typeof plan>) => p.stages.map((s) => s.bytes);

  // Roomy: both resident, decoding beside them (616000 + 5000 + 167936).
  let p = plan(1e6);
  assertEquals(p.residency, { cond: "resident", uncond: "resident" });
  assertEquals(stages(p), [200984, 624512, 788936]);
  assertEquals([p.streaming, p.uploadBytesPerStep, p.freeTransformersBeforeDecode], [
    false,
    0,
    false,
  ]);
  assertEquals([p.peakBytes, p.fits], [788936, true]);

  // Sampling exactly fits with both resident; the decoder then needs them freed.
  p = plan(624512);
  assertEquals(p.residency, { cond: "resident", uncond: "resident" });
  assertEquals(stages(p), [200984, 624512, 172936]);
  assertEquals([p.freeTransformersBeforeDecode, p.peakBytes, p.fits], [true, 624512, true]);

  // One byte less: the unconditional DiT streams (globals 6000 + 2 slots of 100000).
  p = plan(624511);
  assertEquals(p.residency, { cond: "resident", uncond: "stream" });
  assertEquals(stages(p), [200984, 310000 + 206000 + 8512, 172936]);
  assertEquals(p.slotBytes, { cond: 0, uncond: 100000 });
  assertEquals([p.uploadBytesPerStep, p.uploadBytesPerImage], [300000, 3000000]);

  // Both stream: 210000 + 206000 held, every block of both uploaded each step.
  p = plan(524511);
  assertEquals(p.residency, { cond: "stream", uncond: "stream" });
  assertEquals(stages(p)[1], 416000 + 8512);
  assertEquals([p.uploadBytesPerStep, p.streaming, p.fits], [600000, true, true]);

  // Nothing fits: the smallest plan, reported as not fitting.
  p = plan(424511);
  assertEquals(p.residency, { cond: "stream", uncond: "stream" });
  assertEquals([p.peakBytes, p.fits], [424512, false]);

  // Keeping the text encoder adds it to sampling and decoding.
  p = plan(1e6, true);
  assertEquals(stages(p), [200984, 200000 + 624512, 200000 + 788936]);
  assertEquals(p.fits, true);

  // The default reserve: 10% of the budget is not planned into.
  const q = planMemory(TINY_MODEL, { ...req, reserveFraction: undefined, budgetBytes: 1e6 });
  assertEquals(q.usableBytes, 900000);
});

Deno.test("memory: plan requests are checked; the default budget is 8 GiB", async () => {
  assertEquals(DEFAULT_GPU_BUDGET_BYTES, 8 * GIB);
  const req = { width: 32, height: 32, textTokens: 3, budgetBytes: 1e6 };
  await assertRejects(() => planMemory(TINY_MODEL, { ...req, budgetBytes: 0 }), "budget 0");
  await assertRejects(
    () => planMemory(TINY_MODEL, { ...req, width: 40 }),
    "40x32",
    "multiple of 16",
  );
  await assertRejects(() => planMemory(TINY_MODEL, { ...req, textTokens: 0 }), "text tokens 0");
});

Deno.test("memory: the released nf4 model at 1024² on 8 GiB and 24 GiB", () => {
  const model: ModelFootprint = {
    textEncoder: uniformTextEncoderFootprint(QWEN3_8B, "nf4"),
    cond: uniformDiTFootprint(IDEOGRAM4_DIT, "nf4"),
    uncond: uniformDiTFootprint(IDEOGRAM4_DIT, "nf4", false),
    vae: vaeFootprint(FLUX2_VAE_DECODER),
  };
  const req = { width: 1024, height: 1024, textTokens: 2048, steps: 48 };
  const small = planMemory(model, { ...req, budgetBytes: 8 * GIB });
  // 7.2 GiB usable: the conditional DiT (4.87 GiB) stays, the other streams.
  assertEquals(small.residency, { cond: "resident", uncond: "stream" });
  assertEquals(small.uploadBytesPerStep, 34 * 148785856);
  assertEquals(small.freeTransformersBeforeDecode, true);
  assert(small.fits && small.peakBytes < 7.2 * GIB, `${small.peakBytes}`);
  const big = planMemory(model, { ...req, budgetBytes: 24 * GIB });
  assertEquals([big.streaming, big.freeTransformersBeforeDecode], [false, false]);
  // Decode beside both DiTs: 5224251712 + 5086001408 + 198481036 + 2686451712.
  assertEquals(big.peakBytes, 13195185868);
  const text = formatPlan(model, small).join("\n");
  for (
    const part of [
      "text encoder               3.64 GiB",
      "transformer                4.87 GiB (nf4 ×211",
      "unconditional_transformer  4.74 GiB",
      "transformer resident, unconditional_transformer streamed",
      "streaming: yes",
      "freed before decoding",
      "fits",
    ]
  ) assert(text.includes(part), `plan text lacks "${part}":\n${text}`);
});

Deno.test("memory: sizes beyond 2048 run when they fit; the plan refuses with its reason", () => {
  const model: ModelFootprint = {
    textEncoder: uniformTextEncoderFootprint(QWEN3_8B, "nf4"),
    cond: uniformDiTFootprint(IDEOGRAM4_DIT, "nf4"),
    uncond: uniformDiTFootprint(IDEOGRAM4_DIT, "nf4", false),
    vae: vaeFootprint(FLUX2_VAE_DECODER),
  };
  const req = { textTokens: 512, budgetBytes: 80 * GIB, maxBindingBytes: 4 * GIB };
  // 2560x2560: 25600 + 512 tokens; the FFN activation [26112, 12288] f32 is 1.2 GiB.
  const big = planMemory(model, { ...req, width: 2560, height: 2560 });
  assert(big.fits, big.refusal);
  assertEquals(big.refusal, undefined);
  assertEquals(big.largestBuffer.bytes, 4 * 26112 * 12288);
  assert(big.largestBuffer.what.includes("FFN activation [26112, 12288]"), big.largestBuffer.what);
  assert(formatPlan(model, big).join("\n").includes("largest buffer 1.20 GiB"));
  // 4096x4096: [66048, 12288] f32 = 3.02 GiB, above a 2 GiB binding limit.
  const binding = planMemory(model, {
    ...req,
    width: 4096,
    height: 4096,
    maxBindingBytes: 2 * GIB,
  });
  assert(!binding.fits);
  for (
    const part of [
      "4096x4096 needs one transformer FFN activation [66048, 12288] buffer of 3.02 GiB",
      "largest storage buffer (2.00 GiB)",
      "pick a smaller size",
    ]
  ) assert(binding.refusal?.includes(part), `"${binding.refusal}" lacks "${part}"`);
  // The budget's reason when the buffers fit but the peak does not.
  const budget = planMemory(model, { ...req, width: 2560, height: 2560, budgetBytes: 6 * GIB });
  assert(!budget.fits);
  assert(budget.refusal?.includes("even with streaming"), budget.refusal);
  assert(budget.refusal?.includes("--gpu-memory"), budget.refusal);
});
