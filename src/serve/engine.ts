/**
 * A warm model for many images: one GPU context and one pipeline, opened
 * once and kept until `close()`, so the weights are read and uploaded for
 * the first image only. Both `serve` (HTTP) and `batch` (a JSONL file) run
 * their images through it; neither knows about the other.
 *
 * Each image goes through the same steps as `generate`: the prompt step
 * (magic prompt, Hive text moderation, caption verification), sampling,
 * PNG with its text chunks, Hive image moderation. The engine does one
 * request at a time; callers serialise (the server's queue, the batch loop).
 */
import { createGpu, type GpuContext } from "../gpu/context.ts";
import { type ImageRequest, requestPng } from "../cli/generate_request.ts";
import type { PromptSettings } from "../cli/prompt_commands.ts";
import { Ideogram4Pipeline, type StepProgress } from "../pipeline/pipeline.ts";
import type { MemoryPlan } from "../pipeline/memory_plan.ts";
import { screenImage } from "../prompt/moderation.ts";
import { preparePrompt } from "../prompt/prepare.ts";

export interface EngineOptions {
  /** Checkpoint folder (already resolved: embedded model or Hub cache). */
  dir: string;
  /** GPU memory to plan each request for (bytes). */
  gpuBudgetBytes: number;
  /** Keep the text encoder loaded between requests (the default for a warm model). */
  keepTextEncoder: boolean;
  /** Prompt settings of the whole run: service keys and addresses, defaults. */
  settings: PromptSettings;
  /** An already created context; default: a new one, destroyed by `close()`. */
  ctx?: GpuContext;
  /** Whether `close()` destroys a given `ctx` too (default: only a context the engine made). */
  ownsContext?: boolean;
}

/** Per-request prompt switches a client may set (the rest is the operator's). */
export interface PromptOverrides {
  magicPrompt?: boolean;
  keepBboxes?: boolean;
  warnOnCaptionIssues?: boolean;
}

/** One request: a prompt, `n` images with seeds `seeds[i]`. */
export interface EngineRequest {
  prompt: string;
  request: ImageRequest;
  seeds: number[];
  overrides?: PromptOverrides;
}

/** What happens while a request runs, for progress reports. */
export type EngineEvent =
  | { type: "status"; line: string }
  | { type: "warning"; line: string }
  | { type: "progress"; image: number; images: number; step: number; steps: number; ms: number };

export interface EngineImage {
  png: Uint8Array;
  seed: number;
}

/** Milliseconds spent in each part of one request, measured by the engine. */
export interface EngineTimings {
  /** Magic prompt, moderation, verification. */
  prompt_ms: number;
  /** Reading and uploading weights (0 when the model was warm). */
  load_ms: number;
  /**
   * From the start of the request to the start of its first sampling step:
   * prompt step, encoding, weight loading, first shader compilations.
   */
  first_step_ms: number;
  /** Sampling steps (GPU work included). */
  steps_ms: number;
  /** The whole request inside the engine. */
  total_ms: number;
}

export interface EngineResult {
  images: EngineImage[];
  /** What the text encoder got (the magic prompt's caption, canonical JSON, or the text). */
  caption: string;
  /** Set when a magic prompt backend wrote the caption. */
  magicPrompt?: string;
  warnings: string[];
  timings: EngineTimings;
}

/** Running totals, read by `/metrics`. */
export interface EngineStats {
  images: number;
  steps: number;
  stepSeconds: number;
  /** Weight loads per component, and their total seconds. */
  loads: Record<string, number>;
  loadSeconds: number;
}

export class ImageEngine {
  readonly stats: EngineStats = { images: 0, steps: 0, stepSeconds: 0, loads: {}, loadSeconds: 0 };
  /** The memory plan of the latest request. */
  lastPlan?: MemoryPlan;
  private loadMsThisRequest = 0;

  private constructor(
    readonly ctx: GpuContext,
    readonly pipeline: Ideogram4Pipeline,
    private readonly opts: EngineOptions,
    private readonly ownsContext: boolean,
  ) {}

  /** Creates the GPU context and opens the checkpoint; weights load with the first request. */
  static async open(opts: EngineOptions): Promise<ImageEngine> {
    const ctx = opts.ctx ?? await createGpu();
    let engine: ImageEngine | undefined = undefined;
    try {
      const pipeline = await Ideogram4Pipeline.open(ctx, opts.dir, {
        keepTextEncoder: opts.keepTextEncoder,
        gpuBudgetBytes: opts.gpuBudgetBytes,
        onPlan: (plan) => {
          if (engine) engine.lastPlan = plan;
        },
        onLoad: (component, ms) => engine?.countLoad(component, ms),
      });
      engine = new ImageEngine(ctx, pipeline, opts, opts.ownsContext ?? opts.ctx === undefined);
      return engine;
    } catch (e) {
      if (opts.ctx === undefined) ctx.destroy();
      throw e;
    }
  }

  private countLoad(component: string, ms: number): void {
    this.stats.loads[component] = (this.stats.loads[component] ?? 0) + 1;
    this.stats.loadSeconds += ms / 1000;
    this.loadMsThisRequest += ms;
  }

  /**
   * Runs one request. Throws the prompt step's typed errors, `SizeError`,
   * the pipeline's errors, or `signal.reason` when aborted (the step loop
   * stops at the next step; GPU memory of the request is released).
   */
  async run(
    req: EngineRequest,
    signal?: AbortSignal,
    onEvent: (e: EngineEvent) => void = () => {},
  ): Promise<EngineResult> {
    const t0 = performance.now();
    this.loadMsThisRequest = 0;
    const { width, height, sampling } = req.request;
    const s = this.opts.settings;
    const o = req.overrides ?? {};
    const prepared = await preparePrompt({
      prompt: req.prompt,
      width,
      height,
      magicPrompt: {
        ...s.magicPrompt,
        enabled: o.magicPrompt ?? s.magicPrompt.enabled,
        keepBboxes: o.keepBboxes ?? s.magicPrompt.keepBboxes,
      },
      moderation: s.moderation,
      warnOnCaptionIssues: o.warnOnCaptionIssues ?? s.warnOnCaptionIssues,
      signal,
      onStatus: (line) => onEvent({ type: "status", line }),
    });
    const warnings = [...prepared.warnings];
    const promptMs = performance.now() - t0;
    let stepsMs = 0, firstStepMs = 0;
    const images: EngineImage[] = [];
    for (let i = 0; i < req.seeds.length; i++) {
      signal?.throwIfAborted();
      const seed = req.seeds[i];
      const result = await this.pipeline.generate({
        prompt: prepared.prompt,
        // Checked by preparePrompt; its warnings (the same as the result's) are collected above.
        allowCaptionIssues: o.warnOnCaptionIssues ?? s.warnOnCaptionIssues,
        width,
        height,
        ...sampling,
        seed,
        signal,
        onStatus: (line) => onEvent({ type: "status", line }),
        onProgress: (p: StepProgress) => {
          if (i === 0 && p.step === 1) firstStepMs = performance.now() - p.ms - t0;
          stepsMs += p.ms;
          this.stats.steps++;
          this.stats.stepSeconds += p.ms / 1000;
          onEvent({
            type: "progress",
            image: i + 1,
            images: req.seeds.length,
            step: p.step,
            steps: p.steps,
            ms: p.ms,
          });
        },
      });
      const png = requestPng(result.rgb, req.request, prepared.prompt, String(seed));
      const screened = await screenImage(png, { ...s.moderation, signal });
      if (i === 0) warnings.push(...screened.warnings);
      images.push({ png, seed });
      this.stats.images++;
    }
    for (const line of warnings) onEvent({ type: "warning", line });
    return {
      images,
      caption: prepared.prompt,
      magicPrompt: prepared.magicPrompt,
      warnings,
      timings: {
        prompt_ms: round(promptMs),
        load_ms: round(this.loadMsThisRequest),
        first_step_ms: round(firstStepMs),
        steps_ms: round(stepsMs),
        total_ms: round(performance.now() - t0),
      },
    };
  }

  /** Frees the model's GPU memory (and the context when the engine created it). */
  close(): void {
    this.pipeline.release();
    if (this.ownsContext) this.ctx.destroy();
  }
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
