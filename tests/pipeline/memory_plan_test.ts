/**
 * The memory plan against the buffer pool's peak measured on the adapter:
 * the shape-only context (sizes, no device) beside a real one for the same
 * allocations; the embedded model's plan against real generations, stage by
 * stage, for every residency and with the DiTs freed before decoding; a
 * three-block DiT at the released width (random nf4 weights) loaded and run
 * on both contexts, resident and streamed; and the plan's refusals, its text,
 * and the dry run with no adapter at all.
 */
import { assert, assertEquals, assertRejects } from "../assert.ts";
import { readPlatform } from "../io/io_util.ts";
import { randn, testGpu } from "../util.ts";
import { ensureEmbeddedModel } from "../../src/platform/deno/embedded_model.ts";
import { ditTensors } from "../../src/checkpoint/layout.ts";
import { RELEASED_DIMS } from "../../src/checkpoint/dims.ts";
import { randomSafetensors } from "../../src/checkpoint/random.ts";
import { sizeClass } from "../../src/gpu/buffer_pool.ts";
import { GpuContext } from "../../src/gpu/context.ts";
import { ShapeOnlyError } from "../../src/gpu/shape_only.ts";
import { Tensor } from "../../src/gpu/tensor.ts";
import { memorySource } from "../../src/io/byte_source.ts";
import { Checkpoint } from "../../src/io/checkpoint.ts";
import { SafetensorsFile } from "../../src/io/safetensors.ts";
import type { TensorStore } from "../../src/io/tensor_store.ts";
import { DiT, type DiTResidency } from "../../src/models/dit.ts";
import { binary } from "../../src/ops/elementwise.ts";
import { ShapeOnlyStore } from "../../src/pipeline/checkpoint_check.ts";
import {
  DEFAULT_PLAN_BINDING_BYTES,
  formatPlan,
  GIB,
  type MemoryPlan,
  planMemory,
  type PlanRequest,
  type Residency,
} from "../../src/pipeline/memory_plan.ts";
import { Ideogram4Pipeline } from "../../src/pipeline/pipeline.ts";
import { loadTokenizer } from "../../src/text/load.ts";

const TINY = await ensureEmbeddedModel();

// ---- the shape-only context

/** Allocates and frees a seeded random mix of activations and exact (weight) buffers. */
function churn(ctx: GpuContext, seed: number): void {
  const r = randn(64, seed);
  const live: Tensor[] = [];
  for (let i = 0; i < r.length; i++) {
    const n = 1 + Math.floor(Math.abs(r[i]) * 40000);
    const t = i % 5 === 0
      ? Tensor.upload(ctx, new Float32Array(n), [n], "f32", `weight ${i}`, true)
      : Tensor.empty(ctx, [n], i % 3 === 0 ? "f16" : "f32", `activation ${i}`);
    live.push(t);
    if (r[i] > 0.3) live.splice(Math.floor(live.length * Math.abs(r[i]) / 4), 1)[0]?.release();
  }
  for (const t of live) t.release();
}

/** How Mesa's lavapipe describes itself. */
const SOFTWARE_INFO = {
  vendor: "mesa",
  architecture: "",
  device: "",
  description: "llvmpipe (LLVM 15.0.6, 256 bits)",
} as GPUAdapterInfo;

Deno.test("shape-only context: the same pool as the adapter's, no device, no readback", async () => {
  const real = await testGpu();
  const dry = GpuContext.shapeOnly({ limits: real.limits, features: real.features });
  for (const seed of [1, 2, 3]) {
    const stats = [real, dry].map((ctx) => {
      const live0 = ctx.pool.stats.liveBytes;
      ctx.pool.resetPeak();
      churn(ctx, seed);
      return [ctx.pool.stats.liveBytes - live0, ctx.pool.stats.peakBytes - live0];
    });
    assertEquals(stats[0][0], 0, "everything released");
    assert(stats[0][1] > 100_000, `peak ${stats[0][1]}`);
    assertEquals(stats[1], stats[0], `seed ${seed}: shape-only = adapter`);
  }
  await real.sync();

  // Standing for an adapter, it takes that adapter's kernel paths (CPU rasterisers' splits).
  const as = GpuContext.shapeOnly({ limits: real.limits, adapterInfo: real.adapterInfo });
  assertEquals(as.isSoftware, real.isSoftware);
  assert(as.shapeOnly && as.describe().startsWith("shape-only, as "), as.describe());
  assertEquals(GpuContext.shapeOnly({ adapterInfo: SOFTWARE_INFO }).isSoftware, true);
  assertEquals(dry.isSoftware, false);

  // Work is checked and skipped: nothing compiles, reading back is an error.
  const a = Tensor.fromF32(dry, randn(1000, 4), [1000]);
  const b = Tensor.empty(dry, [1000], "f32", "b");
  const before = dry.dispatchCount;
  const sum = binary(dry, "add", a, b);
  assertEquals(dry.dispatchCount, before + 1);
  assertEquals(dry.pipelines.compiles, 0);
  assertEquals(dry.pool.stats.liveBytes, 3 * sizeClass(4000));
  await dry.sync();
  await assertRejects(() => sum.toF32(), "shape-only", "reading back");
  await assertRejects(() =>
    Promise.resolve(dry.kernel({
      name: "k",
      code: "",
      params: false,
      storage: [],
    })), "compiling kernel 'k'");
  assert(new ShapeOnlyError("x") instanceof Error);
  // Writes and copies are still range-checked.
  await assertRejects(
    () => Promise.resolve(dry.copy(a.buffer, 0, b.buffer, 8, a.buffer.size)),
    "out of range",
  );
  await assertRejects(
    () => Promise.resolve(dry.device.queue.writeBuffer(b.buffer, 4000, new Uint8Array(256))),
    "do not fit buffer 'b'",
  );
  await assertRejects(
    () => Promise.resolve(dry.device.createCommandEncoder()),
    "GPUDevice.createCommandEncoder",
  );
  for (const t of [a, b, sum]) t.release();
  assertEquals(dry.pool.stats.liveBytes, 0);

  // Limits: the adapter's, overrides, or defaults with 2 GiB bindings. A tensor above the
  // binding goes on (the pool names it) where a real context throws.
  assertEquals(dry.limits.maxStorageBufferBindingSize, real.limits.maxStorageBufferBindingSize);
  const bare = GpuContext.shapeOnly();
  assertEquals(bare.limits.maxStorageBufferBindingSize, DEFAULT_PLAN_BINDING_BYTES);
  const small = GpuContext.shapeOnly({ overrides: { maxStorageBufferBindingSize: 1 << 20 } });
  const big = Tensor.empty(small, [1 << 19], "f32", "too big");
  assertEquals(small.pool.largest, { bytes: 1 << 21, label: "too big" });
  big.release();
  for (const c of [dry, bare, small]) c.destroy();
});

// ---- the embedded model: plan = the pool's peak in a real generation

const REQUEST = { prompt: "a kite over the sea", width: 256, height: 272, steps: 2, seed: 5 };

/** Per-stage peaks of one generation on a fresh context, and the plan it followed. */
async function generateMeasured(
  opts: {
    budget: number;
    residency?: { cond: DiTResidency; uncond: DiTResidency };
    keepTextEncoder?: boolean;
  },
): Promise<{ plan: MemoryPlan; stages: number[]; peak: number; upload: number }> {
  const ctx = await GpuContext.create();
  ctx.poisonOutputs = true;
  try {
    const plans: MemoryPlan[] = [];
    const pipe = await Ideogram4Pipeline.open(ctx, TINY, {
      platform: readPlatform,
      gpuBudgetBytes: opts.budget,
      residency: opts.residency,
      keepTextEncoder: opts.keepTextEncoder,
      onPlan: (p) => plans.push(p),
    });
    // A stage ends where the next one's status line is printed.
    const stages: number[] = [];
    const endStage = () => {
      stages.push(ctx.pool.stats.peakBytes);
      ctx.pool.resetPeak();
    };
    let upload = 0;
    try {
      await pipe.generate({
        ...REQUEST,
        onStatus: (line) => {
          if (line.startsWith("loading the transformers") || line === "decoding") endStage();
        },
      });
      endStage();
      const plan = plans[0];
      if (!plan.freeTransformersBeforeDecode) {
        const { cond, uncond } = await pipe.loadTransformers(plan.residency);
        upload = cond.streamBytesPerForward + uncond.streamBytesPerForward;
      }
    } finally {
      pipe.release();
    }
    assertEquals(plans.length, 1);
    return { plan: plans[0], stages, peak: Math.max(...stages), upload };
  } finally {
    ctx.destroy();
  }
}

const RESIDENCIES: { cond: Residency; uncond: Residency }[] = [
  { cond: "resident", uncond: "resident" },
  { cond: "resident", uncond: "stream" },
  { cond: "stream", uncond: "stream" },
];

Deno.test("plan = measured: the embedded model, every residency, stage by stage", async () => {
  const peaks: number[] = [];
  for (const residency of RESIDENCIES) {
    const m = await generateMeasured({ budget: GIB, residency });
    const p = m.plan;
    const what = `${residency.cond}/${residency.uncond}`;
    assertEquals(p.residency, residency);
    assertEquals(p.stages.map((s) => s.name), ["encode prompt", "sampling", "decode"]);
    assertEquals(p.stages.map((s) => s.bytes), m.stages, `${what}: each stage's peak`);
    assertEquals(p.peakBytes, m.peak, what);
    assertEquals(p.uploadBytesPerStep, m.upload, `${what}: streamed bytes per step`);
    assertEquals(p.streaming, residency.uncond === "stream");
    for (const s of p.stages) {
      assert(s.weightBytes > 0 && s.activationBytes > 0, `${what}: ${JSON.stringify(s)}`);
    }
    assertEquals(p.stages[0].weightBytes, p.components.textEncoder.gpuBytes);
    assert(p.fits && !p.freeTransformersBeforeDecode, JSON.stringify(p));
    peaks.push(p.stages[1].bytes);
  }
  // The tiny DiTs have 3 blocks: two slots hold less than all three.
  assert(peaks[0] > peaks[1] && peaks[1] > peaks[2], `sampling peaks ${peaks}`);

  // The text encoder kept through sampling and decoding.
  const kept = await generateMeasured({ budget: GIB, keepTextEncoder: true });
  assertEquals(kept.plan.stages.map((s) => s.bytes), kept.stages, "text encoder kept");
  const te = kept.plan.components.textEncoder.gpuBytes;
  assertEquals(kept.plan.stages[1].bytes, peaks[0] + te);
});

Deno.test("plan = measured: a budget that frees the DiTs before decoding", async () => {
  const tokens = (await loadTokenizer(`${TINY}/tokenizer`, readPlatform))
    .encodePrompt(REQUEST.prompt).ids.length;
  const req: PlanRequest = { ...REQUEST, textTokens: tokens, budgetBytes: GIB };
  const roomy = await planMemory(TINY, req, { platform: readPlatform });
  const [encode, sampling, decode] = roomy.stages.map((s) => s.bytes);
  assert(decode > Math.max(encode, sampling), "the tiny model's VAE sets the peak");
  // Room for the decode stage less the DiTs' weights, not for it with them.
  const dits = roomy.components.cond.gpuBytes + roomy.components.uncond.gpuBytes;
  const budget = Math.ceil((decode - dits) / 0.9) + 4;
  const m = await generateMeasured({ budget });
  assert(m.plan.fits && m.plan.freeTransformersBeforeDecode, JSON.stringify(m.plan));
  assertEquals(m.plan.residency, RESIDENCIES[0]);
  assertEquals(m.plan.stages.map((s) => s.bytes), m.stages);
  assertEquals(m.plan.peakBytes, m.peak);
  assertEquals(m.plan.stages[2].weightBytes, m.plan.components.vae.gpuBytes);
  assert(m.plan.stages[2].bytes < decode, "less than with the DiTs held");
  // Less than the resident sampling stage: streaming; less than the encode stage: nothing fits.
  const tight = await planMemory(TINY, { ...req, budgetBytes: Math.floor(sampling / 0.9) - 64 }, {
    platform: readPlatform,
  });
  assertEquals(tight.residency.uncond, "stream");
  const none = await planMemory(TINY, { ...req, budgetBytes: Math.floor(encode / 0.9) - 64 }, {
    platform: readPlatform,
  });
  assert(!none.fits, JSON.stringify(none));
  assert(none.refusal!.includes("even with streaming"), none.refusal);
  assertEquals(none.residency, RESIDENCIES[2]);
});

// ---- a DiT at the released width

/**
 * Peak bytes above what was live, on `ctx`, of loading a 3-block DiT of the
 * released width from `store` and running one pass over `gh × gw` image
 * tokens: with `text` text tokens (the conditional pass) or without (the
 * unconditional one, loaded without its text projection).
 */
async function ditPassPeak(
  ctx: GpuContext,
  store: TensorStore,
  residency: DiTResidency,
  grid: { gh: number; gw: number; text: number },
): Promise<{ peak: number; weights: number }> {
  const live0 = ctx.pool.stats.liveBytes;
  ctx.pool.resetPeak();
  const c = RELEASED_DIMS.dit, text = grid.text > 0;
  const config = { ropeTheta: c.ropeTheta, mropeSection: c.mropeSection, normEps: c.normEps };
  const dit = await DiT.load(ctx, store, { config, residency, textConditioning: text });
  const weights = ctx.pool.stats.liveBytes - live0;
  const tokens = grid.gh * grid.gw;
  const noise = randn(tokens * c.inChannels, 8);
  const latents = Tensor.fromF32(ctx, noise, [tokens, c.inChannels]);
  const features = text
    ? Tensor.fromF32(ctx, randn(grid.text * c.llmFeaturesDim, 9), [grid.text, c.llmFeaturesDim])
    : undefined;
  const v = dit.forward(ctx, { latents, features, t: 0.8, gh: grid.gh, gw: grid.gw });
  const peak = ctx.pool.stats.peakBytes - live0;
  if (!ctx.shapeOnly) {
    // The pass ran: a finite velocity that is not zero.
    const got = await v.toF32();
    assert(got.every(Number.isFinite) && got.some((x) => x !== 0), "velocity");
  }
  for (const x of [v, latents, features, dit]) x?.release();
  assertEquals(ctx.pool.stats.liveBytes, live0);
  return { peak, weights };
}

Deno.test("plan = measured: a 3-block DiT at the released width, resident and streamed", async () => {
  const ctx = await testGpu();
  const c = { ...RELEASED_DIMS.dit, numLayers: 3 };
  const file = await SafetensorsFile.open(
    memorySource("random nf4 DiT", randomSafetensors(ditTensors("nf4", c), 11)),
  );
  const real = Checkpoint.fromFiles("3-block DiT", [file]);
  // Each pass reads ~0.5 GB of nf4 weights: one per residency keeps lavapipe under a minute.
  const cases = [
    { residency: "resident", grid: { gh: 2, gw: 3, text: 5 } },
    { residency: "stream", grid: { gh: 3, gw: 2, text: 0 } },
  ] as const;
  const found: { peak: number; weights: number }[] = [];
  try {
    for (const { residency, grid } of cases) {
      const dry = GpuContext.shapeOnly({ limits: ctx.limits, features: ctx.features });
      const planned = await ditPassPeak(dry, new ShapeOnlyStore(real), residency, grid);
      dry.destroy();
      const measured = await ditPassPeak(ctx, real, residency, grid);
      assertEquals(planned, measured, residency);
      found.push(measured);
    }
  } finally {
    file.close();
  }
  // Released width: hundreds of MB of nf4 weights; streaming holds two blocks of three.
  const [resident, stream] = found;
  assert(resident.weights > 400e6 && stream.weights < 0.8 * resident.weights, `${found}`);
  assert(resident.peak > resident.weights && stream.peak > stream.weights, `${found}`);
});

// ---- the plan without an adapter, its refusals and its text

Deno.test("plan: a dry run needs no adapter; refusals name the buffer or the budget", async () => {
  const gpu = navigator.gpu;
  const requestAdapter = gpu.requestAdapter;
  gpu.requestAdapter = () => {
    throw new Error("the plan asked for a GPU adapter");
  };
  try {
    const req = { width: 512, height: 256, textTokens: 40, budgetBytes: 8 * GIB, steps: 12 };
    const p = await planMemory(TINY, req, { platform: readPlatform });
    assert(p.fits && !p.streaming, JSON.stringify(p));
    assertEquals(p.request.maxBindingBytes, DEFAULT_PLAN_BINDING_BYTES);
    assertEquals(p.peakBytes, Math.max(...p.stages.map((s) => s.bytes)));
    const text = formatPlan(p).join("\n");
    for (
      const part of [
        "memory plan for 512x256, 40 text tokens, budget 8.00 GiB (7.20 GiB usable",
        "stage encode prompt",
        "stage sampling",
        "stage decode",
        "transformer resident, unconditional_transformer resident",
        "streaming: no",
        "; 3 blocks)",
        "fits",
      ]
    ) assert(text.includes(part), `no "${part}" in\n${text}`);
    // More text tokens and a larger image need more.
    const more = await planMemory(TINY, { ...req, textTokens: 80, width: 1024 }, {
      platform: readPlatform,
    });
    for (let i = 0; i < 3; i++) assert(more.stages[i].bytes > p.stages[i].bytes, `stage ${i}`);

    // One buffer above the binding limit: refused, naming it.
    const binding = await planMemory(TINY, { ...req, maxBindingBytes: 256 * 1024 }, {
      platform: readPlatform,
    });
    assert(!binding.fits && binding.largestBuffer.bytes > 256 * 1024, JSON.stringify(binding));
    assert(binding.refusal!.includes("needs one buffer '"), binding.refusal);
    assert(binding.refusal!.includes("above the adapter's largest storage buffer"));
    // A budget below the smallest stage.
    const tiny = await planMemory(TINY, { ...req, budgetBytes: 1 << 20 }, {
      platform: readPlatform,
    });
    assert(!tiny.fits && tiny.refusal!.includes("even with streaming"), tiny.refusal);
    assert(formatPlan(tiny).join("\n").includes("does NOT fit"));
    assertEquals(tiny.uploadBytesPerImage, 12 * tiny.uploadBytesPerStep);
    assert(tiny.uploadBytesPerStep > 0 && tiny.slotBytes.cond > 0);
  } finally {
    gpu.requestAdapter = requestAdapter;
  }
  const req = { width: 256, height: 256, textTokens: 8, budgetBytes: GIB };
  const plan = (r: Partial<PlanRequest>) =>
    planMemory(TINY, { ...req, ...r }, { platform: readPlatform });
  await assertRejects(() => plan({ budgetBytes: 0 }), "budget 0");
  await assertRejects(() => plan({ width: 40 }), "40x256", "multiple of 16");
  await assertRejects(() => plan({ textTokens: 0 }), "text tokens 0");
  await assertRejects(() => plan({ steps: 0 }), "steps 0");
  await assertRejects(() => plan({ reserveFraction: 1 }), "reserve fraction 1");
  await assertRejects(
    () => planMemory("/nonexistent/model", req, { platform: readPlatform }),
    "/nonexistent/model",
  );
});
