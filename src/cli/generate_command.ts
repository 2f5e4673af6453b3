/**
 * `generate`: text → PNG on the command line, with the reference CLI's flags
 * where they apply. The work is ordered so that each check runs before
 * anything that costs more: flags, numbers and the output path (its folder
 * exists and is writable) → the prompt file and the initial noise → the
 * tokenizer (a few MB, fetched first for a Hub model) and the prompt's token
 * count → the GPU adapter → the services (magic prompt, Hive text
 * moderation) → download and load of the weights, sampling → Hive image
 * moderation → atomic write of the PNG (temp file + rename).
 *
 * The code follows that order: `checkRequest` (`generate_flags.ts`, with
 * the flags and the usage text) turns the flags into a
 * {@link GenerateRequest} value (steps 1–2); here `runRequest` runs it (3–4)
 * and `generateOnGpu` the rest. The model choice, the image request's checks and
 * the PNG's text chunks are shared with `serve` and `batch`
 * (`generate_request.ts`).
 *
 * Exit codes: see `exit_codes.ts` (0 written; 2 what the user gave was
 * rejected: flags, size, prompt, caption, a missing model folder, a bad
 * --revision, a moderation verdict; 1 the machine, the model files, the
 * network or a service failed). Every line on stderr is redacted.
 *
 * `--dry-run` stops after the flags: it checks the checkpoint's tensors
 * against the architecture (headers only) and prints the memory plan for the
 * size and `--gpu-memory` budget, without creating a GPU device, loading
 * weights, preparing the prompt over the network or writing anything. It
 * exits 0 when the checkpoint is sound and the plan fits, else 1 with the
 * problems listed.
 */
import { createGpu, type GpuContext } from "../gpu/context.ts";
import { checkCheckpoint } from "../pipeline/checkpoint_check.ts";
import {
  formatBytes,
  formatPlan,
  type MemoryPlan,
  planMemory,
  type PlanRequest,
} from "../pipeline/memory_plan.ts";
import { type GenerateResult, Ideogram4Pipeline, type StepProgress } from "../pipeline/pipeline.ts";
import { ensureEmbeddedModel } from "../platform/deno/embedded_model.ts";
import { type HubProgress, resolveModel, type ResolveModelSpec } from "../platform/deno/hub.ts";
import { platform } from "../platform/mod.ts";
import type { Platform } from "../platform/types.ts";
import { screenImage } from "../prompt/moderation.ts";
import { chooseMagicPrompt, preparePrompt } from "../prompt/prepare.ts";
import { isJsonCaption } from "../prompt/verify.ts";
import { redact } from "../redact.ts";
import { loadTokenizer } from "../text/load.ts";
import { MAX_PROMPT_TOKENS, type Qwen3Tokenizer } from "../text/tokenizer.ts";
import { exitCodeOf } from "./exit_codes.ts";
import {
  checkRequest,
  GENERATE_USAGE,
  type GenerateRequest,
  parseGenerateArgs,
} from "./generate_flags.ts";
import { hubSpecOf, requestPng } from "./generate_request.ts";
import {
  type CliIo,
  denoIo,
  type EnvLookup,
  type PromptSettings,
  promptSettingsFromFlags,
} from "./prompt_commands.ts";
import { adapterAdvice } from "./runtime_env.ts";

/** `1 h 02 m`, `3 m 07 s`, `12 s`. */
export function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s >= 3600) {
    return `${Math.floor(s / 3600)} h ${String(Math.floor(s / 60) % 60).padStart(2, "0")} m`;
  }
  if (s >= 60) return `${Math.floor(s / 60)} m ${String(s % 60).padStart(2, "0")} s`;
  return `${s} s`;
}

/** What `generate` reads and writes besides files: streams and, for tests, the environment. */
export interface GenerateIo extends CliIo {
  /** Environment lookup (keys, IDEOGRAM4_MODEL); default: the platform's. */
  env?: EnvLookup;
}

/** Download progress lines on stderr: each file's end, and at most one line a second. */
export function downloadProgress(io: CliIo): (p: HubProgress) => void {
  let last = 0;
  const gb = (n: number) => (n / 1e9).toFixed(2);
  return (p) => {
    const done = p.fileBytes === p.fileSize;
    const now = performance.now();
    if (p.cached || (!done && now - last < 1000)) return;
    last = now;
    const pct = p.total > 0 ? Math.floor((100 * p.bytes) / p.total) : 100;
    io.stderr(
      `download ${p.fileIndex + 1}/${p.fileCount} ${p.file} ${gb(p.fileBytes)}/${
        gb(p.fileSize)
      } GB` +
        `  total ${pct}% of ${gb(p.total)} GB`,
    );
  };
}

/** `generate …` → exit code. */
export async function runGenerate(args: string[], io: GenerateIo = denoIo): Promise<number> {
  // Every line, --verbose and errors included, passes the redaction (src/redact.ts).
  const safe: GenerateIo = { ...io, stderr: (text) => io.stderr(redact(text)) };
  try {
    return await generate(args, safe);
  } catch (e) {
    safe.stderr(`generate: ${e instanceof Error ? e.message : String(e)}`);
    return exitCodeOf(e);
  }
}

async function generate(args: string[], io: GenerateIo): Promise<number> {
  const v = parseGenerateArgs(args);
  if (v.help) {
    io.stdout(GENERATE_USAGE);
    return 0;
  }
  const p = platform();
  const env: EnvLookup = io.env ?? ((name) => p.env(name));
  const r = await checkRequest(v, io, env, p);
  return r.dryRun ? await dryRun(r, io) : await runRequest(r, io, p);
}

/** `--dry-run`: the checkpoint in the cache (a dry run never downloads weights), checked and planned. */
async function dryRun(r: GenerateRequest, io: GenerateIo): Promise<number> {
  const dir = r.model.embedded
    ? await ensureEmbeddedModel(r.env)
    : await resolveModel({ ...hubSpec(r, io), offline: true });
  const memory = {
    width: r.image.width,
    height: r.image.height,
    budgetBytes: r.model.budgetBytes,
    steps: r.image.plan.steps,
    keepTextEncoder: r.keepTextEncoder,
  };
  return await dryRunReport(
    dir,
    r.promptGiven ? r.prompt : undefined,
    memory,
    r.image.planName,
    io,
  );
}

/** Where the Hub model comes from, with retries reported as warnings. */
function hubSpec(r: GenerateRequest, io: GenerateIo): ResolveModelSpec {
  return {
    ...hubSpecOf(r.model, r.env),
    network: { onRetry: (m: string) => io.stderr(`warning: ${m}`) },
  };
}

/** Steps 3 and 4: the tokenizer and the prompt's tokens, the GPU adapter; then the rest on it. */
async function runRequest(r: GenerateRequest, io: GenerateIo, p: Platform): Promise<number> {
  // ---- 3. the tokenizer (first and alone for a Hub model) and the prompt's tokens
  const settings = await promptSettingsFromFlags(r.promptFlags, r.env);
  for (const w of settings.warnings) io.stderr(`warning: ${w}`);
  // The embedded model is built (or checked) once, here; a Hub model's weights come in step 6.
  const embeddedDir = r.model.embedded
    ? await ensureEmbeddedModel(r.env, (line) => io.stderr(line))
    : undefined;
  const tokenizerDir = embeddedDir ??
    await resolveModel({ ...hubSpec(r, io), folders: ["tokenizer"] });
  const tokenizer = await loadTokenizer(p.join(tokenizerDir, "tokenizer"), p);
  // Counted as given, unless a magic prompt will rewrite it (its caption is counted in step 5).
  const expands = chooseMagicPrompt(settings.magicPrompt) !== undefined &&
    !(isJsonCaption(r.prompt) && settings.magicPrompt.enabled === undefined);
  if (!expands) tokenizer.encodePrompt(r.prompt);

  // ---- 4. the GPU adapter
  const ctx = await createGpu();
  try {
    if (!r.quiet) io.stderr(`adapter: ${ctx.describe()}`);
    const advice = adapterAdvice(ctx.adapterFeatures, r.env);
    if (advice) io.stderr(`warning: ${advice}`);
    return await generateOnGpu(ctx, r, { settings, tokenizer, embeddedDir }, io, p);
  } finally {
    ctx.destroy();
  }
}

/** What steps 3 and 4 found out, for the rest. */
interface Prepared {
  settings: PromptSettings;
  tokenizer: Qwen3Tokenizer;
  /** The embedded model's folder, already checked in step 3. */
  embeddedDir: string | undefined;
}

/** Steps 5 on: services, weights, sampling, image moderation, the write. */
async function generateOnGpu(
  ctx: GpuContext,
  r: GenerateRequest,
  { settings, tokenizer, embeddedDir }: Prepared,
  io: GenerateIo,
  p: Platform,
): Promise<number> {
  const { width, height } = r.image;
  const status = (line: string) => !r.quiet && io.stderr(line);
  // ---- 5. services: magic prompt, text moderation, caption verification
  const prepared = await preparePrompt({
    prompt: r.prompt,
    width,
    height,
    magicPrompt: settings.magicPrompt,
    moderation: settings.moderation,
    warnOnCaptionIssues: settings.warnOnCaptionIssues,
    onStatus: status,
  });
  for (const w of prepared.warnings) io.stderr(`warning: ${w}`);
  for (const n of prepared.notes) status(n);
  tokenizer.encodePrompt(prepared.prompt);

  // ---- 6. weights and sampling
  const dir = embeddedDir ?? await resolveModel({
    ...hubSpec(r, io),
    onProgress: r.quiet ? undefined : downloadProgress(io),
  });
  if (r.model.embedded) {
    status(
      `model: the embedded tiny random-weight model (${r.image.planName}, ${width}x${height}); ` +
        "pass --model DIR for Ideogram 4",
    );
  }
  const { result, measuredPeak, memoryPlan } = await sample(ctx, dir, r, prepared.prompt, {
    allowCaptionIssues: settings.warnOnCaptionIssues,
    status,
    io,
    p,
  });
  if (r.verbose) {
    for (const line of peakLines(measuredPeak, memoryPlan, r.model.budgetBytes)) io.stderr(line);
  }
  const png = requestPng(
    result.rgb,
    r.image,
    prepared.prompt,
    result.seed === undefined ? `init-noise ${r.initNoise?.file}` : String(result.seed),
  );
  // ---- 7. image moderation, then the only write
  const screened = await screenImage(png, settings.moderation);
  for (const w of screened.warnings) io.stderr(`warning: ${w}`);
  await p.writeFileAtomic(r.output, png);
  status(`wrote ${r.output} (${width}x${height}, seed ${result.seed ?? "-"})`);
  return 0;
}

/**
 * Step 6's GPU part: opens the pipeline on `dir` (its memory plan reported
 * as a status line), samples the image of `caption`, and releases the
 * pipeline; returns the image, the pool's measured peak and the plan.
 */
async function sample(
  ctx: GpuContext,
  dir: string,
  r: GenerateRequest,
  caption: string,
  o: {
    allowCaptionIssues: boolean | undefined;
    status: (line: string) => void;
    io: CliIo;
    p: Platform;
  },
): Promise<{ result: GenerateResult; measuredPeak: number; memoryPlan?: MemoryPlan }> {
  let memoryPlan: MemoryPlan | undefined;
  const pipe = await Ideogram4Pipeline.open(ctx, dir, {
    keepTextEncoder: r.keepTextEncoder,
    gpuBudgetBytes: r.model.budgetBytes,
    platform: o.p,
    onPlan: (m) => {
      memoryPlan = m;
      o.status(planLine(m, r.model.budgetBytes));
    },
  });
  try {
    const result = await pipe.generate({
      prompt: caption,
      // Checked in step 5; its warnings (the same as the result's) are printed already.
      allowCaptionIssues: o.allowCaptionIssues,
      width: r.image.width,
      height: r.image.height,
      ...r.image.sampling,
      seed: r.initNoise ? undefined : r.image.seed,
      initNoise: r.initNoise?.latents,
      onStatus: o.status,
      onProgress: r.quiet ? undefined : stepProgress(o.io),
    });
    // Set by onPlan during open (TypeScript cannot see the callback assign it).
    return {
      result,
      measuredPeak: ctx.pool.stats.peakBytes,
      memoryPlan: memoryPlan as MemoryPlan | undefined,
    };
  } finally {
    pipe.release();
  }
}

/** The memory plan the pipeline follows, in one line. */
function planLine(m: MemoryPlan, budgetBytes: number): string {
  const res = m.residency;
  return `memory plan (budget ${formatBytes(budgetBytes)}): peak ${formatBytes(m.peakBytes)}; ` +
    `transformer ${res.cond}, unconditional_transformer ${res.uncond}` +
    (m.streaming ? `; ${formatBytes(m.uploadBytesPerStep)} streamed per step` : "");
}

/** `step i/N  s/step  ETA` lines, the ETA from the time since the first call. */
function stepProgress(io: CliIo): (s: StepProgress) => void {
  const started = performance.now();
  return (s) => {
    const elapsed = performance.now() - started;
    const eta = (elapsed / s.step) * (s.steps - s.step);
    io.stderr(
      `step ${s.step}/${s.steps}  ${(s.ms / 1000).toFixed(2)} s/step  ETA ${duration(eta)}`,
    );
  };
}

/** `--verbose`: the measured peak GPU memory, and the planned one the pipeline reported. */
function peakLines(measured: number, planned: MemoryPlan | undefined, budgetBytes: number) {
  const lines = [`peak GPU memory measured: ${formatBytes(measured)} (${measured} bytes)`];
  if (planned) {
    lines.push(
      `peak GPU memory planned: ${formatBytes(planned.peakBytes)} (${planned.peakBytes} bytes; ` +
        `budget ${formatBytes(budgetBytes)})`,
    );
  }
  return lines;
}

/**
 * `--dry-run`: the checkpoint check and the memory plan, printed; 0 when the
 * checkpoint is sound and the plan fits the budget, else 1.
 */
async function dryRunReport(
  dir: string,
  prompt: string | undefined,
  memory: Omit<PlanRequest, "textTokens">,
  planName: string,
  io: GenerateIo,
): Promise<number> {
  const check = await checkCheckpoint(dir, { prompt });
  if (check.problems.length > 0) {
    io.stderr(`dry run: ${dir} has ${check.problems.length} problem(s):`);
    for (const line of check.problems) io.stderr(`  ${line}`);
    return 1;
  }
  const textTokens = check.promptTokens ?? MAX_PROMPT_TOKENS;
  const plan = await planMemory(dir, { ...memory, textTokens });
  io.stdout(`dry run: ${dir}: every tensor matches the architecture`);
  io.stdout(
    `sampling: ${planName}; text tokens: ` +
      (check.promptTokens === undefined
        ? `${MAX_PROMPT_TOKENS} (the maximum; pass --prompt to plan for yours)`
        : `${textTokens} (this prompt as given, before any magic prompt)`),
  );
  for (const line of formatPlan(plan)) io.stdout(line);
  if (!plan.fits) {
    io.stderr(`dry run: ${plan.refusal}`);
    return 1;
  }
  return 0;
}
