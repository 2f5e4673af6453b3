/**
 * The Ideogram 4 text-to-image pipeline: prompt → tokens → Qwen3-VL features →
 * flow-matching Euler sampling with two DiTs (asymmetric classifier-free
 * guidance) → Flux2 VAE decoder → RGB pixels (spec §1–§6).
 *
 * Components are loaded when first needed and can be used on their own. The
 * 8B text encoder is freed right after encoding by default, so it never sits
 * beside the two DiTs on a small GPU; the DiTs and the VAE stay loaded for
 * the next `generate` until `release()`.
 */
import type { GpuContext } from "../gpu/context.ts";
import { Tensor } from "../gpu/tensor.ts";
import { DiT, type DiTResidency } from "../models/dit.ts";
import { Qwen3TextEncoder } from "../models/qwen3_encoder.ts";
import { loadVaeDecoder, type VaeDecoder } from "../models/vae_decoder.ts";
import { countNonFinite, nonFiniteCounters } from "../ops/nonfinite.ts";
import { platform as currentPlatform } from "../platform/mod.ts";
import type { Platform } from "../platform/types.ts";
import { loadTokenizer } from "../text/load.ts";
import type { Qwen3Tokenizer } from "../text/tokenizer.ts";
import { checkCheckpoint } from "./checkpoint_check.ts";
import { TOKEN_CHANNELS } from "../models/ops/unpatchify.ts";
import { COMPONENT_FOLDERS, missingComponentFiles } from "../io/model_folders.ts";
import { decodeLatents, samplingStep } from "./stages.ts";
import { type MemoryPlan, planMemory } from "./memory_plan.ts";
import { gaussianNoise, randomSeed } from "./noise.ts";
import {
  findNonFiniteWeights,
  NonFiniteError,
  type NonFiniteStage,
  suspectFolders,
} from "./nonfinite.ts";
import { resolveSampling, type SamplingOptions, type SamplingPlan } from "./presets.ts";
import { eulerSteps } from "./schedule.ts";
import { latentGrid, sizeAdvice, validateSize } from "./size.ts";
import { checkPrompt } from "../prompt/check.ts";

/** How {@link Ideogram4Pipeline.open} runs the checkpoint. */
export interface PipelineOptions {
  /** Default: the registered platform. */
  platform?: Platform;
  /** Keep the text encoder loaded between `generate` calls (uses ~its size in GPU memory). */
  keepTextEncoder?: boolean;
  /**
   * GPU memory to plan for (bytes). WebGPU cannot report it, so without a
   * budget every component loads resident. With one, each `generate` plans
   * residency first (see memory_plan.ts): DiTs that do not fit stream their
   * blocks' weights per step, the DiTs are freed before decoding when the
   * VAE needs the room, and a request that cannot fit at all is refused
   * before any weight is loaded.
   */
  gpuBudgetBytes?: number;
  /** Called with the plan of each `generate` (when a budget is set). */
  onPlan?: (plan: MemoryPlan) => void;
  /**
   * Residency of each DiT instead of the plan's choice (e.g. to stream on a GPU you know is
   * small); with a budget, the plan measures this residency.
   */
  residency?: { cond: DiTResidency; uncond: DiTResidency };
  /** Called each time a component's weights are actually read and uploaded (a server counts them). */
  onLoad?: (component: "text_encoder" | "transformers" | "vae", ms: number) => void;
}

/** Progress of one sampling step, reported to `onProgress`. */
export interface StepProgress {
  /** 1-based step number. */
  step: number;
  /** Number of steps. */
  steps: number;
  /** Time values of this Euler step (`t` → `s`). */
  t: number;
  /** Time after the step. */
  s: number;
  /** Classifier-free guidance weight of the step. */
  guidance: number;
  /** Milliseconds this step took (GPU work included). */
  ms: number;
}

/** One image request: prompt, size, sampling and noise. */
export interface GenerateOptions extends SamplingOptions {
  /**
   * Plain text or a JSON caption string, passed to the text encoder exactly
   * as given. A JSON caption with schema issues is refused
   * (`CaptionInvalidError`) unless `allowCaptionIssues`; plain text gets a
   * warning in the result.
   */
  prompt: string;
  /** Generate from a JSON caption with schema issues (they become warnings). */
  allowCaptionIssues?: boolean;
  /** Default 1024 × 1024. */
  width?: number;
  /** Default 1024. */
  height?: number;
  /** Seed of the initial noise (random when absent and no `initNoise`). */
  seed?: number | bigint;
  /** Initial noise `[tokens, 128]` row-major over the latent grid; overrides `seed`. */
  initNoise?: Float32Array;
  /** Called after each sampling step. */
  onProgress?: (p: StepProgress) => void;
  /** Also return the final latent tokens (e.g. to compare with another implementation). */
  returnLatents?: boolean;
  /** Called with a status line when a component starts loading or running. */
  onStatus?: (line: string) => void;
  /** Aborts generation between steps (the promise rejects with the signal's reason). */
  signal?: AbortSignal;
}

/** The generated image and how it was made. */
export interface GenerateResult {
  /** `width * height * 3` bytes, row-major RGB. */
  rgb: Uint8Array;
  /** Image width in pixels. */
  width: number;
  /** Image height in pixels. */
  height: number;
  /** The seed used (undefined when `initNoise` was given). */
  seed?: bigint;
  /** The sampling that ran: steps, guidance per step, schedule. */
  sampling: SamplingPlan;
  /** Text tokens after the chat template. */
  tokens: number;
  /** The final latent tokens `[tokens, 128]` before decoding, with `returnLatents`. */
  latents?: Float32Array;
  /** For the user: the plain-text prompt warning, caption issues let through, a size outside upstream's recommendation. */
  warnings: string[];
}

/** Plans an {@link Ideogram4Pipeline} keeps (least recently made dropped first). */
const MAX_CACHED_PLANS = 32;

/**
 * Text → image with a checkpoint in the published layout: tokenizer and text
 * encoder, the two DiTs with classifier-free guidance and the Euler sampler,
 * the VAE decoder. Components load on first use; with a GPU memory budget
 * each request is planned first.
 *
 * @example
 * ```ts
 * import { createGpu, encodePng, Ideogram4Pipeline } from "@ideogram4/webgpu";
 *
 * const ctx = await createGpu();
 * const pipe = await Ideogram4Pipeline.open(ctx, "/models/ideogram-4-nf4");
 * const img = await pipe.generate({
 *   prompt: "a lighthouse at dusk",
 *   width: 1024,
 *   height: 1024,
 *   preset: "V4_TURBO_12",
 *   seed: 42,
 * });
 * await Deno.writeFile("out.png", encodePng(img.rgb, img.width, img.height, { Seed: "42" }));
 * pipe.release();
 * ```
 */
export class Ideogram4Pipeline {
  private tokenizer?: Qwen3Tokenizer;
  private encoder?: Qwen3TextEncoder;
  private cond?: DiT;
  private uncond?: DiT;
  private vae?: VaeDecoder;
  /** Whether the checkpoint's headers passed the check (planning needs it once). */
  private checked = false;
  /** Plans already made, by request (a plan runs the model shape-only: seconds for the released one). */
  private plans = new Map<string, MemoryPlan>();
  private released = false;

  private constructor(
    readonly ctx: GpuContext,
    /** The checkpoint folder. */
    readonly dir: string,
    private readonly platform: Platform,
    private readonly opts: PipelineOptions,
  ) {}

  /**
   * Opens a checkpoint folder in the published layout. Only checks that the
   * component folders exist; weights are read when first needed.
   */
  static async open(
    ctx: GpuContext,
    dir: string,
    opts: PipelineOptions = {},
  ): Promise<Ideogram4Pipeline> {
    const p = opts.platform ?? currentPlatform();
    const missing = await missingComponentFiles(p, dir);
    if (missing.length > 0) {
      throw new Error(
        `${dir}: not an Ideogram 4 checkpoint folder; missing ${missing.join(", ")} ` +
          `(expected ${COMPONENT_FOLDERS.map((f) => f + "/").join(", ")})`,
      );
    }
    return new Ideogram4Pipeline(ctx, dir, p, opts);
  }

  /** `dir/folder` on the pipeline's platform. */
  private path(folder: string): string {
    return this.platform.join(this.dir, folder);
  }

  /** Throws when the pipeline was released. */
  private assertAlive(): void {
    if (this.released) throw new Error("Ideogram4Pipeline used after release()");
  }

  /** The tokenizer (loaded on first use). */
  async loadTokenizer(): Promise<Qwen3Tokenizer> {
    this.assertAlive();
    this.tokenizer ??= await loadTokenizer(this.path("tokenizer"), this.platform);
    return this.tokenizer;
  }

  /** The text encoder (loaded on first use). */
  async loadTextEncoder(): Promise<Qwen3TextEncoder> {
    this.assertAlive();
    if (this.encoder) return this.encoder;
    const t0 = performance.now();
    this.encoder = await Qwen3TextEncoder.load(this.ctx, this.path("text_encoder"), {
      platform: this.platform,
    });
    this.opts.onLoad?.("text_encoder", performance.now() - t0);
    return this.encoder;
  }

  /**
   * Both transformers (loaded on first use), resident unless asked to stream
   * their blocks' weights; one loaded with another residency is reloaded.
   */
  async loadTransformers(
    residency: { cond: DiTResidency; uncond: DiTResidency } = {
      cond: "resident",
      uncond: "resident",
    },
  ): Promise<{ cond: DiT; uncond: DiT }> {
    this.assertAlive();
    if (this.cond && this.cond.residency !== residency.cond) this.releaseCond();
    if (this.uncond && this.uncond.residency !== residency.uncond) this.releaseUncond();
    const t0 = performance.now(), loading = !this.cond || !this.uncond;
    this.cond ??= await DiT.load(this.ctx, this.path("transformer"), {
      platform: this.platform,
      name: "cond",
      residency: residency.cond,
    });
    // Run on image tokens only: its text projection is never used.
    this.uncond ??= await DiT.load(this.ctx, this.path("unconditional_transformer"), {
      platform: this.platform,
      textConditioning: false,
      name: "uncond",
      residency: residency.uncond,
    });
    if (loading) this.opts.onLoad?.("transformers", performance.now() - t0);
    return { cond: this.cond, uncond: this.uncond };
  }

  /** Frees the conditional DiT. */
  private releaseCond(): void {
    this.cond?.release();
    this.cond = undefined;
  }

  /** Frees the unconditional DiT. */
  private releaseUncond(): void {
    this.uncond?.release();
    this.uncond = undefined;
  }

  /**
   * The memory plan for one request (needs `gpuBudgetBytes`): the request
   * run shape-only on this context's limits (see memory_plan.ts). Checks
   * the checkpoint's headers first, once; a checkpoint with problems is an
   * error listing them. The last 32 plans are kept, so
   * a repeated size and prompt length (a server, a batch) plans once.
   */
  async planMemory(
    width: number,
    height: number,
    textTokens: number,
    steps: number,
  ): Promise<MemoryPlan> {
    const budgetBytes = this.opts.gpuBudgetBytes;
    if (budgetBytes === undefined) throw new Error("planMemory needs options.gpuBudgetBytes");
    if (!this.checked) {
      const check = await checkCheckpoint(this.dir, { platform: this.platform });
      if (check.problems.length > 0) {
        throw new Error(
          `${this.dir}: the checkpoint has problems:\n  ${check.problems.join("\n  ")}`,
        );
      }
      this.checked = true;
    }
    const key = `${width}x${height}/${textTokens}/${steps}`;
    const known = this.plans.get(key);
    if (known) return known;
    const plan = await planMemory(this.dir, {
      width,
      height,
      textTokens,
      budgetBytes,
      steps,
      keepTextEncoder: this.opts.keepTextEncoder,
      residency: this.opts.residency,
    }, {
      platform: this.platform,
      gpu: {
        limits: this.ctx.limits,
        features: this.ctx.features,
        adapterInfo: this.ctx.adapterInfo,
      },
    });
    if (this.plans.size >= MAX_CACHED_PLANS) this.plans.delete(this.plans.keys().next().value!);
    this.plans.set(key, plan);
    return plan;
  }

  /** The VAE decoder (loaded on first use). */
  async loadVae(): Promise<VaeDecoder> {
    this.assertAlive();
    if (this.vae) return this.vae;
    const t0 = performance.now();
    this.vae = await loadVaeDecoder(this.ctx, this.path("vae"), { platform: this.platform });
    this.opts.onLoad?.("vae", performance.now() - t0);
    return this.vae;
  }

  /**
   * Token ids and the features `[L, 13 * hidden]` f32 (on the GPU; the caller
   * releases the tensor) for one prompt.
   */
  async encodePrompt(prompt: string): Promise<{ ids: Int32Array; features: Tensor }> {
    const tok = await this.loadTokenizer();
    return await this.encodeIds(tok.encodePrompt(prompt).ids);
  }

  /** Runs the text encoder on `ids` (loading it first; freeing it after unless kept). */
  private async encodeIds(ids: Int32Array): Promise<{ ids: Int32Array; features: Tensor }> {
    const enc = await this.loadTextEncoder();
    const features = enc.encodeFeatures(ids);
    if (!this.opts.keepTextEncoder) {
      // Wait for the encoder's work before its weights go back to the pool.
      await this.ctx.sync();
      enc.release();
      this.encoder = undefined;
      // Return the encoder's freed buffers to the driver, not only to the pool.
      this.ctx.pool.trim();
    }
    return { ids, features };
  }

  /** Generates one image. Size and sampling are checked before any weight is read. */
  async generate(opts: GenerateOptions): Promise<GenerateResult> {
    this.assertAlive();
    const width = opts.width ?? 1024, height = opts.height ?? 1024;
    validateSize(width, height);
    const plan = resolveSampling(opts);
    const { warnings } = checkPrompt(opts.prompt, {
      allowCaptionIssues: opts.allowCaptionIssues,
      allowHint: "set allowCaptionIssues",
    });
    const sizeWarning = sizeAdvice(width, height);
    if (sizeWarning) warnings.push(sizeWarning);
    const { gh, gw, tokens } = latentGrid(width, height);
    let seed: bigint | undefined;
    let noise = opts.initNoise;
    if (noise) {
      if (noise.length !== tokens * TOKEN_CHANNELS) {
        throw new Error(
          `initial noise has ${noise.length} values; ${width}x${height} needs ` +
            `[${tokens}, ${TOKEN_CHANNELS}] = ${tokens * TOKEN_CHANNELS}`,
        );
      }
      const bad = noise.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) throw new Error(`initial noise value ${bad} is ${noise[bad]}`);
    } else {
      seed = opts.seed === undefined ? randomSeed() : BigInt(opts.seed);
      noise = gaussianNoise(seed, tokens * TOKEN_CHANNELS);
    }
    const status = opts.onStatus ?? (() => {});
    const signal = opts.signal;
    const steps = eulerSteps(plan, width, height);

    const { ids: promptIds } = (await this.loadTokenizer()).encodePrompt(opts.prompt);
    let memory: MemoryPlan | undefined;
    if (this.opts.gpuBudgetBytes !== undefined) {
      memory = await this.planMemory(width, height, promptIds.length, plan.steps);
      this.opts.onPlan?.(memory);
      if (!memory.fits) throw new Error(memory.refusal);
    }

    status("encoding the prompt");
    const { ids, features } = await this.encodeIds(promptIds);
    // Non-finite counters: [0] text features, [n + 1] latents after step n,
    // [steps + 1] the decoded image. Read back once per step (the step's wait).
    const counters = nonFiniteCounters(this.ctx, steps.length + 2);
    const custom = [opts.initNoise, opts.guidance, opts.mu, opts.std].some((o) => o !== undefined);
    const check = async (slot: number, stage: NonFiniteStage) => {
      const counts = await counters.read() as Uint32Array;
      const [where, count] = counts[0] > 0
        ? [{ kind: "text features" } as NonFiniteStage, counts[0]]
        : [stage, counts[slot]];
      if (count > 0) throw await this.nonFinite(where, count, custom);
    };
    let z: Tensor | undefined;
    try {
      countNonFinite(this.ctx, features, counters, 0);
      signal?.throwIfAborted();
      status("loading the transformers");
      const { cond, uncond } = await this.loadTransformers(
        this.opts.residency ?? memory?.residency,
      );
      z = Tensor.fromF32(this.ctx, noise, [tokens, TOKEN_CHANNELS], "f32", "latents");
      status(`sampling ${steps.length} steps at ${width}x${height}`);
      for (let n = 0; n < steps.length; n++) {
        const { t, s, guidance } = steps[n];
        const t0 = performance.now();
        samplingStep(
          this.ctx,
          { cond, uncond },
          z,
          features,
          { gh, gw },
          steps[n],
          counters,
          n + 1,
        );
        // One wait per step, the counters' readback: progress is real time, a
        // non-finite latent stops here, and so does a cancel.
        await check(n + 1, { kind: "step", step: n + 1, steps: steps.length });
        opts.onProgress?.({
          step: n + 1,
          steps: steps.length,
          t,
          s,
          guidance,
          ms: performance.now() - t0,
        });
        signal?.throwIfAborted();
      }
      const latents = opts.returnLatents ? await z.toF32() : undefined;
      if (memory?.freeTransformersBeforeDecode) {
        // The VAE's peak does not fit beside them (the plan said so).
        await this.ctx.sync();
        this.releaseCond();
        this.releaseUncond();
        this.ctx.pool.trim();
      }
      status("decoding");
      const vae = await this.loadVae();
      const decodeSlot = steps.length + 1;
      const image = decodeLatents(this.ctx, vae, z, { gh, gw }, counters, decodeSlot);
      let rgb: Uint8Array;
      try {
        rgb = await image.read() as Uint8Array;
      } finally {
        image.release();
      }
      await check(decodeSlot, { kind: "decode" });
      return { rgb, width, height, seed, sampling: plan, tokens: ids.length, latents, warnings };
    } finally {
      z?.release();
      features.release();
      counters.release();
    }
  }

  /**
   * The error for a non-finite value seen at `stage`: scans the weights that
   * could cause it (only now, never on a good run) and names them.
   */
  private async nonFinite(
    stage: NonFiniteStage,
    count: number,
    customSettings: boolean,
  ): Promise<NonFiniteError> {
    const weights = await findNonFiniteWeights(this.dir, suspectFolders(stage), this.platform);
    const origin = weights.length > 0 ? "weights" : customSettings ? "settings" : "unknown";
    return new NonFiniteError(stage, count, origin, weights);
  }

  /** Frees every loaded component's GPU memory. */
  release(): void {
    for (const c of [this.encoder, this.cond, this.uncond, this.vae]) c?.release();
    this.encoder =
      this.cond =
      this.uncond =
      this.vae =
        undefined;
    this.released = true;
  }
}
