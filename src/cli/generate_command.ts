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
import { parseArgs } from "node:util";
import { createGpu, type GpuContext } from "../gpu/context.ts";
import { encodePng } from "../image/png.ts";
import { type HubProgress, resolveModel } from "../io/hub.ts";
import { ensureEmbeddedModel } from "./embedded_model.ts";
import { imageRequestFromFlags, modelFlags } from "./generate_request.ts";
import { EXIT_CODES_HELP, exitCodeOf } from "./exit_codes.ts";
import { checkOutputPath } from "./output_path.ts";
import { adapterAdvice } from "./runtime_env.ts";
import { checkCheckpoint } from "../pipeline/checkpoint_check.ts";
import {
  DEFAULT_GPU_BUDGET_BYTES,
  formatBytes,
  formatPlan,
  GIB,
  type MemoryPlan,
  planMemory,
  type PlanRequest,
} from "../pipeline/memory_plan.ts";
import { initNoiseFromNpy } from "../pipeline/npy.ts";
import { Ideogram4Pipeline, type StepProgress } from "../pipeline/pipeline.ts";
import { PRESET_NAMES, type SamplingOptions, type SamplingPlan } from "../pipeline/presets.ts";
import { latentGrid, sizeAdvice } from "../pipeline/size.ts";
import { platform } from "../platform/mod.ts";
import { redact } from "../redact.ts";
import { PromptError, PromptRejectedError } from "../prompt/errors.ts";
import { isJsonCaption } from "../prompt/verify.ts";
import { loadTokenizer } from "../text/load.ts";
import { screenImage } from "../prompt/moderation.ts";
import { chooseMagicPrompt, preparePrompt } from "../prompt/prepare.ts";
import { MAX_PROMPT_TOKENS, type Qwen3Tokenizer } from "../text/tokenizer.ts";
import {
  type CliIo,
  denoIo,
  type EnvLookup,
  MAGIC_PROMPT_FLAGS,
  PROMPT_FLAGS_USAGE,
  promptSettingsFromFlags,
} from "./prompt_commands.ts";

export const GENERATE_USAGE = `usage: generate --prompt TEXT [flags]

Generates one image with Ideogram 4 and writes it as a PNG (caption, seed,
size and preset in its text chunks). Without --model or --quantization it
runs the tiny random-weight model embedded in this repository (abstract
output). For real images pass a checkpoint folder, or a Hugging Face repo /
--quantization to download the released weights into the Hugging Face cache
(gated: accept the licence on the model page and set HF_TOKEN).

  --prompt TEXT             plain text or a JSON caption
  --prompt-file FILE        read the prompt from FILE (- for stdin)
  --output FILE             PNG to write (default output.png)
  --model DIR|ORG/NAME       checkpoint folder (transformer/, unconditional_transformer/,
                            text_encoder/, tokenizer/, vae/) or a Hub repo; env IDEOGRAM4_MODEL
  --quantization nf4|fp8    download ideogram-ai/ideogram-4-nf4 or -fp8 (a local folder's
                            format is detected from its files)
  --revision REV            branch, tag or commit of a Hub repo (default main)
  --offline                 use the Hugging Face cache only (also HF_HUB_OFFLINE=1)
                            env HF_ENDPOINT (mirror), HF_HUB_ETAG_TIMEOUT / HF_HUB_DOWNLOAD_TIMEOUT
                            (seconds to the reply / of silence in a download; default 10 / 30)
  --width N, --height N     pixels, any multiples of 16 the GPU plan allows; outside
                            256..2048 a side or aspect 6:1 (upstream's recommendation)
                            a warning (default 1024x1024; 256x256 for the embedded model)
  --sampler-preset NAME     ${PRESET_NAMES.join(", ")}
                            (default V4_QUALITY_48; V4_TURBO_12 for the embedded model)
  --steps N                 custom number of steps
  --guidance G[,G...]       custom guidance: one value, or one per step (first step first)
  --mu X, --std X           custom logit-normal schedule parameters
  --seed N                  seed of the initial noise (default 0)
  --init-noise FILE.npy     initial noise, float32 [tokens,128] or [1,tokens,128]
  --keep-text-encoder       do not free the text encoder after encoding
  --gpu-memory GIB          GPU memory to plan for, in GiB (a card sold as "8 GB" has 8);
                            WebGPU cannot report it (default ${DEFAULT_GPU_BUDGET_BYTES / GIB})
  --dry-run                 check the checkpoint's tensors (headers only) and print the
                            memory plan for the size and budget; no GPU, no image
                            (--prompt optional: its tokens size the plan, else 2048)
  --verbose                 after generating, print the measured peak GPU memory
  -q, --quiet               no progress output

${PROMPT_FLAGS_USAGE}

${EXIT_CODES_HELP}`;

const GENERATE_FLAGS = {
  ...MAGIC_PROMPT_FLAGS,
  prompt: { type: "string" },
  "prompt-file": { type: "string" },
  output: { type: "string", default: "output.png" },
  model: { type: "string" },
  quantization: { type: "string" },
  revision: { type: "string" },
  offline: { type: "boolean" },
  width: { type: "string" },
  height: { type: "string" },
  "sampler-preset": { type: "string" },
  steps: { type: "string" },
  guidance: { type: "string" },
  mu: { type: "string" },
  std: { type: "string" },
  seed: { type: "string", default: "0" },
  "init-noise": { type: "string" },
  "keep-text-encoder": { type: "boolean" },
  "gpu-memory": { type: "string" },
  "dry-run": { type: "boolean" },
  verbose: { type: "boolean" },
  quiet: { type: "boolean", short: "q" },
  help: { type: "boolean", short: "h" },
} as const;

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

/** The key flags: given but blank is a typing mistake, refused before any work. */
const KEY_FLAGS = ["magic-prompt-key", "hive-text-key", "hive-visual-key"] as const;

/** Reads the prompt (file, stdin or flag); an unreadable file is the user's input (exit 2). */
async function readPrompt(
  v: { prompt?: string; "prompt-file"?: string },
  io: GenerateIo,
): Promise<string> {
  const f = v["prompt-file"];
  if (f === undefined) return v.prompt ?? "";
  try {
    return (f === "-" ? await io.readStdin() : await io.readFile(f)).replace(/^\uFEFF/, "");
  } catch (e) {
    if (e instanceof PromptError) throw e;
    throw new PromptRejectedError(`--prompt-file ${f}: ${e instanceof Error ? e.message : e}`);
  }
}

async function generate(args: string[], io: GenerateIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args, options: GENERATE_FLAGS, allowPositionals: false });
  } catch (e) {
    throw new PromptRejectedError(`${e instanceof Error ? e.message : e}\n\n${GENERATE_USAGE}`);
  }
  const v = parsed.values;
  if (v.help) {
    io.stdout(GENERATE_USAGE);
    return 0;
  }
  const p = platform();
  const env: EnvLookup = io.env ?? ((name) => p.env(name));
  // ---- 1. flags and numbers
  const dryRun = v["dry-run"] === true;
  const promptGiven = v.prompt !== undefined || v["prompt-file"] !== undefined;
  if (
    (v.prompt !== undefined && v["prompt-file"] !== undefined) || (!promptGiven && !dryRun)
  ) {
    throw new PromptRejectedError("give exactly one of --prompt and --prompt-file");
  }
  const { budgetBytes, quantization } = modelFlags(v);
  for (const k of KEY_FLAGS) {
    if (v[k] !== undefined && v[k]!.trim() === "") {
      throw new PromptRejectedError(`--${k} is empty; pass the key, or leave the flag out`);
    }
  }
  const model = v.model ?? env("IDEOGRAM4_MODEL");
  const embedded = model === undefined && quantization === undefined;
  const { width, height, seed, sampling, plan, planName } = imageRequestFromFlags(v, embedded);
  const sizeWarning = sizeAdvice(width, height);
  if (sizeWarning) io.stderr(`warning: ${sizeWarning}`);
  const output = v.output!;
  if (!dryRun) await checkOutputPath(output);

  // ---- 2. the prompt and the initial noise (files the user gave)
  const prompt = await readPrompt(v, io);
  if (promptGiven && prompt.trim() === "") throw new PromptRejectedError("the prompt is empty");
  let initNoise: Float32Array | undefined;
  if (v["init-noise"] !== undefined) {
    const file = v["init-noise"];
    try {
      const src = await p.open(file);
      try {
        const bytes = await src.read(0, src.size);
        initNoise = initNoiseFromNpy(bytes, file, latentGrid(width, height).tokens);
      } finally {
        src.close();
      }
    } catch (e) {
      throw new PromptRejectedError(
        `--init-noise: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
  }
  const memory = {
    width,
    height,
    budgetBytes,
    steps: plan.steps,
    keepTextEncoder: v["keep-text-encoder"] === true,
  };
  const hubSpec = {
    model,
    quantization,
    revision: v.revision,
    env,
    network: { onRetry: (m: string) => io.stderr(`warning: ${m}`) },
  };

  if (dryRun) {
    // Cache only for a Hub model: a dry run never downloads weights.
    const dir = embedded
      ? await ensureEmbeddedModel(env)
      : await resolveModel({ ...hubSpec, offline: true });
    return await dryRunReport(dir, promptGiven ? prompt : undefined, memory, planName, io);
  }

  // ---- 3. the tokenizer (first and alone for a Hub model) and the prompt's tokens
  const settings = await promptSettingsFromFlags(v, env);
  for (const w of settings.warnings) io.stderr(`warning: ${w}`);
  const offline = v.offline ? true : undefined;
  const tokenizerDir = embedded
    ? await ensureEmbeddedModel(env, (line) => io.stderr(line))
    : await resolveModel({ ...hubSpec, offline, folders: ["tokenizer"] });
  const tokenizer = await loadTokenizer(p.join(tokenizerDir, "tokenizer"), p);
  // Counted as given, unless a magic prompt will rewrite it (its caption is counted in step 5).
  const expands = chooseMagicPrompt(settings.magicPrompt) !== undefined &&
    !(isJsonCaption(prompt) && settings.magicPrompt.enabled === undefined);
  if (!expands) tokenizer.encodePrompt(prompt);

  // ---- 4. the GPU adapter
  const ctx = await createGpu();
  try {
    if (!v.quiet) io.stderr(`adapter: ${ctx.describe()}`);
    const advice = adapterAdvice(ctx.adapterFeatures, env);
    if (advice) io.stderr(`warning: ${advice}`);
    return await generateOnGpu(ctx, {
      v,
      io,
      env,
      prompt,
      settings,
      tokenizer,
      embedded,
      embeddedDir: embedded ? tokenizerDir : undefined,
      hubSpec: { ...hubSpec, offline },
      width,
      height,
      sampling,
      seed,
      initNoise,
      plan,
      planName,
      budgetBytes,
      output,
    });
  } finally {
    ctx.destroy();
  }
}

/** What {@link generateOnGpu} needs from the checked request. */
interface CheckedRequest {
  v: ReturnType<typeof parseArgs<{ options: typeof GENERATE_FLAGS }>>["values"];
  io: GenerateIo;
  env: EnvLookup;
  prompt: string;
  settings: Awaited<ReturnType<typeof promptSettingsFromFlags>>;
  tokenizer: Qwen3Tokenizer;
  embedded: boolean;
  /** The embedded model's folder, already verified (step 3). */
  embeddedDir: string | undefined;
  hubSpec: Parameters<typeof resolveModel>[0];
  width: number;
  height: number;
  sampling: SamplingOptions;
  seed: number | undefined;
  initNoise: Float32Array | undefined;
  plan: SamplingPlan;
  planName: string;
  budgetBytes: number;
  output: string;
}

/** Steps 5 on: services, weights, sampling, image moderation, the write. */
async function generateOnGpu(ctx: GpuContext, r: CheckedRequest): Promise<number> {
  const { v, io, width, height, planName, budgetBytes, output } = r;
  const p = platform();
  // ---- 5. services: magic prompt, text moderation, caption verification
  const prepared = await preparePrompt({
    prompt: r.prompt,
    width,
    height,
    magicPrompt: r.settings.magicPrompt,
    moderation: r.settings.moderation,
    warnOnCaptionIssues: r.settings.warnOnCaptionIssues,
    onStatus: (line) => !v.quiet && io.stderr(line),
  });
  for (const w of prepared.warnings) io.stderr(`warning: ${w}`);
  if (!v.quiet) { for (const n of prepared.notes) io.stderr(n); }
  r.tokenizer.encodePrompt(prepared.prompt);

  // ---- 6. weights and sampling
  const dir = r.embeddedDir ?? await resolveModel({
    ...r.hubSpec,
    onProgress: v.quiet ? undefined : downloadProgress(io),
  });
  if (r.embedded && !v.quiet) {
    io.stderr(
      `model: the embedded tiny random-weight model (${planName}, ${width}x${height}); ` +
        "pass --model DIR for Ideogram 4",
    );
  }
  let memoryPlan: MemoryPlan | undefined;
  const pipe = await Ideogram4Pipeline.open(ctx, dir, {
    keepTextEncoder: v["keep-text-encoder"],
    gpuBudgetBytes: budgetBytes,
    onPlan: (m) => {
      memoryPlan = m;
      if (v.quiet) return;
      const res = m.residency;
      io.stderr(
        `memory plan (budget ${formatBytes(budgetBytes)}): peak ${formatBytes(m.peakBytes)}; ` +
          `transformer ${res.cond}, unconditional_transformer ${res.uncond}` +
          (m.streaming ? `; ${formatBytes(m.uploadBytesPerStep)} streamed per step` : ""),
      );
    },
  });
  let result, measuredPeak = 0;
  try {
    const started = performance.now();
    result = await pipe.generate({
      prompt: prepared.prompt,
      // Checked above; its warnings (the same as the result's) are printed already.
      allowCaptionIssues: r.settings.warnOnCaptionIssues,
      width,
      height,
      ...r.sampling,
      seed: r.initNoise ? undefined : r.seed,
      initNoise: r.initNoise,
      onStatus: (line) => !v.quiet && io.stderr(line),
      onProgress: v.quiet ? undefined : (s: StepProgress) => {
        const elapsed = performance.now() - started;
        const perStep = s.ms / 1000;
        const eta = (elapsed / s.step) * (s.steps - s.step);
        io.stderr(
          `step ${s.step}/${s.steps}  ${perStep.toFixed(2)} s/step  ETA ${duration(eta)}`,
        );
      },
    });
    measuredPeak = ctx.pool.stats.peakBytes;
  } finally {
    pipe.release();
  }
  if (v.verbose) {
    io.stderr(`peak GPU memory measured: ${formatBytes(measuredPeak)} (${measuredPeak} bytes)`);
    // The plan the pipeline followed (reported through onPlan).
    const planned = memoryPlan as MemoryPlan | undefined;
    if (planned) {
      io.stderr(
        `peak GPU memory planned: ${formatBytes(planned.peakBytes)} (${planned.peakBytes} bytes; ` +
          `budget ${formatBytes(budgetBytes)})`,
      );
    }
  }
  const png = encodePng(result.rgb, width, height, {
    Caption: prepared.prompt,
    Seed: result.seed === undefined ? `init-noise ${v["init-noise"]}` : String(result.seed),
    Size: `${width}x${height}`,
    Preset: planName,
    Steps: String(r.plan.steps),
    Software: "ideogram4-webgpu",
  });
  // ---- 7. image moderation, then the only write
  const screened = await screenImage(png, r.settings.moderation);
  for (const w of screened.warnings) io.stderr(`warning: ${w}`);
  await p.writeFileAtomic(output, png);
  if (!v.quiet) io.stderr(`wrote ${output} (${width}x${height}, seed ${result.seed ?? "-"})`);
  return 0;
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
