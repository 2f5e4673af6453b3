/**
 * `generate`: text → PNG on the command line, with the reference CLI's flags
 * where they apply. Order of work (each step can refuse before the next one
 * costs anything): flags and size → prompt (magic prompt, Hive text
 * moderation, caption verification) → weights and sampling → Hive image
 * moderation → atomic write of the PNG (temp file + rename).
 *
 * Exit codes: 0 written; 2 the request was rejected (bad flags or size,
 * invalid caption, prompt too long, moderation flagged); 1 anything else
 * (missing or corrupt model, GPU failure, a service that failed).
 *
 * `--dry-run` stops after the flags: it checks the checkpoint's tensors
 * against the architecture (headers only) and prints the memory plan for the
 * size and `--gpu-memory` budget, without creating a GPU device, loading
 * weights, preparing the prompt over the network or writing anything. It
 * exits 0 when the checkpoint is sound and the plan fits, else 1 with the
 * problems listed.
 */
import { parseArgs } from "node:util";
import { createGpu } from "../gpu/context.ts";
import { encodePng } from "../image/png.ts";
import { type HubProgress, type Quantization, resolveModel } from "../io/hub.ts";
import { ensureEmbeddedModel } from "./embedded_model.ts";
import { checkCheckpoint } from "../pipeline/checkpoint_check.ts";
import {
  DEFAULT_GPU_BUDGET_BYTES,
  formatBytes,
  formatPlan,
  GIB,
  type MemoryPlan,
  planMemory,
} from "../pipeline/memory_plan.ts";
import { initNoiseFromNpy } from "../pipeline/npy.ts";
import { Ideogram4Pipeline, type StepProgress } from "../pipeline/pipeline.ts";
import { PRESET_NAMES, resolveSampling } from "../pipeline/presets.ts";
import { latentGrid, sizeAdvice, SizeError, validateSize } from "../pipeline/size.ts";
import { platform } from "../platform/mod.ts";
import { PromptError, PromptRejectedError } from "../prompt/errors.ts";
import { screenImage } from "../prompt/moderation.ts";
import { preparePrompt } from "../prompt/prepare.ts";
import { MAX_PROMPT_TOKENS, PromptTooLongError } from "../text/tokenizer.ts";
import {
  type CliIo,
  denoIo,
  type EnvLookup,
  MAGIC_PROMPT_FLAGS,
  PROMPT_FLAGS_USAGE,
  promptSettingsFromFlags,
} from "./prompt_commands.ts";

/** What a run without `--model` uses unless flags say otherwise: quick on any adapter. */
const EMBEDDED_DEFAULTS = { width: 256, height: 256, preset: "V4_TURBO_12" } as const;

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

${PROMPT_FLAGS_USAGE}`;

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

/** An integer flag, or a {@link PromptRejectedError} naming it. */
function intFlag(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^-?\d+$/.test(v.trim())) throw new PromptRejectedError(`--${name} ${v}: not an integer`);
  return Number(v);
}

function numberFlag(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n)) {
    throw new PromptRejectedError(`--${name} ${v}: not a number`);
  }
  return n;
}

/** `1 h 02 m`, `3 m 07 s`, `12 s`. */
function duration(ms: number): string {
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
function downloadProgress(io: CliIo): (p: HubProgress) => void {
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
  try {
    return await generate(args, io);
  } catch (e) {
    const rejected = e instanceof PromptError
      ? e.exitCode === 2
      : e instanceof SizeError || e instanceof PromptTooLongError;
    io.stderr(`generate: ${e instanceof Error ? e.message : String(e)}`);
    return rejected ? 2 : 1;
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
  // ---- the request, checked before anything is loaded
  const dryRun = v["dry-run"] === true;
  const promptGiven = v.prompt !== undefined || v["prompt-file"] !== undefined;
  if (
    (v.prompt !== undefined && v["prompt-file"] !== undefined) || (!promptGiven && !dryRun)
  ) {
    throw new PromptRejectedError("give exactly one of --prompt and --prompt-file");
  }
  let prompt = v.prompt ?? "";
  if (v["prompt-file"] !== undefined) {
    const f = v["prompt-file"];
    prompt = (f === "-" ? await io.readStdin() : await io.readFile(f)).replace(/^\uFEFF/, "");
  }
  if (promptGiven && prompt.trim() === "") throw new PromptRejectedError("the prompt is empty");
  const gpuMemory = numberFlag("gpu-memory", v["gpu-memory"]);
  if (gpuMemory !== undefined && !(gpuMemory > 0)) {
    throw new PromptRejectedError(`--gpu-memory ${v["gpu-memory"]}: must be a number of GiB > 0`);
  }
  const budgetBytes = gpuMemory === undefined ? DEFAULT_GPU_BUDGET_BYTES : gpuMemory * GIB;
  if (v.quantization !== undefined && v.quantization !== "nf4" && v.quantization !== "fp8") {
    throw new PromptRejectedError(`--quantization ${v.quantization}: use nf4 or fp8`);
  }
  const model = v.model ?? env("IDEOGRAM4_MODEL");
  const embedded = model === undefined && v.quantization === undefined;
  const width = intFlag("width", v.width) ?? (embedded ? EMBEDDED_DEFAULTS.width : 1024);
  const height = intFlag("height", v.height) ?? (embedded ? EMBEDDED_DEFAULTS.height : 1024);
  validateSize(width, height);
  const sizeWarning = sizeAdvice(width, height);
  if (sizeWarning) io.stderr(`warning: ${sizeWarning}`);
  const seed = intFlag("seed", v.seed);
  if (seed !== undefined && (seed < 0 || !Number.isSafeInteger(seed))) {
    throw new PromptRejectedError(`--seed ${v.seed}: must be an integer from 0 to 2^53-1`);
  }
  const guidance = v.guidance?.split(",").map((g) => numberFlag("guidance", g)!);
  const sampling = {
    preset: v["sampler-preset"] ??
      (embedded && v.steps === undefined ? EMBEDDED_DEFAULTS.preset : undefined),
    steps: intFlag("steps", v.steps),
    guidance: guidance?.length === 1 ? guidance[0] : guidance,
    mu: numberFlag("mu", v.mu),
    std: numberFlag("std", v.std),
  };
  let plan;
  try {
    plan = resolveSampling(sampling);
  } catch (e) {
    throw new PromptRejectedError(e instanceof Error ? e.message : String(e));
  }
  let initNoise: Float32Array | undefined;
  if (v["init-noise"] !== undefined) {
    const file = v["init-noise"];
    const src = await p.open(file);
    try {
      const bytes = await src.read(0, src.size);
      initNoise = initNoiseFromNpy(bytes, file, latentGrid(width, height).tokens);
    } catch (e) {
      throw new PromptRejectedError(e instanceof Error ? e.message : String(e));
    } finally {
      src.close();
    }
  }
  const output = v.output!;
  if (!output.toLowerCase().endsWith(".png")) {
    throw new PromptRejectedError(`--output ${output}: the file name must end in .png`);
  }
  const planName = plan.preset ?? `custom ${plan.steps} steps`;
  const memory = {
    width,
    height,
    budgetBytes,
    steps: plan.steps,
    keepTextEncoder: v["keep-text-encoder"] === true,
  };

  if (dryRun) {
    // Cache only for a Hub model: a dry run never downloads weights.
    const dir = embedded ? await ensureEmbeddedModel(env) : await resolveModel({
      model,
      quantization: v.quantization as Quantization | undefined,
      revision: v.revision,
      offline: true,
      env,
    });
    return await dryRunReport(dir, promptGiven ? prompt : undefined, memory, planName, io);
  }

  // ---- prompt: magic prompt, text moderation, caption verification
  const settings = await promptSettingsFromFlags(v, env);
  for (const w of settings.warnings) io.stderr(`warning: ${w}`);
  const prepared = await preparePrompt({
    prompt,
    width,
    height,
    magicPrompt: settings.magicPrompt,
    moderation: settings.moderation,
    warnOnCaptionIssues: settings.warnOnCaptionIssues,
    onStatus: (line) => !v.quiet && io.stderr(line),
  });
  for (const w of prepared.warnings) io.stderr(`warning: ${w}`);
  if (!v.quiet) { for (const n of prepared.notes) io.stderr(n); }

  // ---- weights and sampling
  const dir = embedded ? await ensureEmbeddedModel(env) : await resolveModel({
    model,
    quantization: v.quantization as Quantization | undefined,
    revision: v.revision,
    offline: v.offline ? true : undefined,
    env,
    onProgress: v.quiet ? undefined : downloadProgress(io),
  });
  if (embedded && !v.quiet) {
    io.stderr(
      `model: the embedded tiny random-weight model (${planName}, ${width}x${height}); ` +
        "pass --model DIR for Ideogram 4",
    );
  }
  const ctx = await createGpu();
  let memoryPlan: MemoryPlan | undefined;
  const pipe = await Ideogram4Pipeline.open(ctx, dir, {
    keepTextEncoder: v["keep-text-encoder"],
    gpuBudgetBytes: budgetBytes,
    onPlan: (m) => {
      memoryPlan = m;
      if (v.quiet) return;
      const r = m.residency;
      io.stderr(
        `memory plan (budget ${formatBytes(budgetBytes)}): peak ${formatBytes(m.peakBytes)}; ` +
          `transformer ${r.cond}, unconditional_transformer ${r.uncond}` +
          (m.streaming ? `; ${formatBytes(m.uploadBytesPerStep)} streamed per step` : ""),
      );
    },
  });
  let result, measuredPeak = 0;
  try {
    const started = performance.now();
    result = await pipe.generate({
      prompt: prepared.prompt,
      width,
      height,
      ...sampling,
      seed: initNoise ? undefined : seed,
      initNoise,
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
    ctx.destroy();
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
    Steps: String(plan.steps),
    Software: "ideogram4-webgpu",
  });
  // ---- image moderation, then the only write
  const screened = await screenImage(png, settings.moderation);
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
  memory: Omit<Parameters<typeof planMemory>[1], "textTokens">,
  planName: string,
  io: GenerateIo,
): Promise<number> {
  const check = await checkCheckpoint(dir, { prompt });
  if (check.problems.length > 0 || !check.footprint) {
    io.stderr(`dry run: ${dir} has ${check.problems.length} problem(s):`);
    for (const line of check.problems) io.stderr(`  ${line}`);
    return 1;
  }
  const textTokens = check.promptTokens ?? MAX_PROMPT_TOKENS;
  const plan = planMemory(check.footprint, { ...memory, textTokens });
  io.stdout(`dry run: ${dir}: every tensor matches the architecture`);
  io.stdout(
    `sampling: ${planName}; text tokens: ` +
      (check.promptTokens === undefined
        ? `${MAX_PROMPT_TOKENS} (the maximum; pass --prompt to plan for yours)`
        : `${textTokens} (this prompt as given, before any magic prompt)`),
  );
  for (const line of formatPlan(check.footprint, plan)) io.stdout(line);
  if (!plan.fits) {
    io.stderr(`dry run: ${plan.refusal}`);
    return 1;
  }
  return 0;
}
