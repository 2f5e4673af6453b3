/**
 * The flags `serve` and `batch` share: which model to load (as `generate`
 * picks it), the GPU memory budget, and the prompt step's services, turned
 * into one warm {@link ImageEngine}.
 */
import { resolveModel } from "../platform/deno/hub.ts";
import { DEFAULT_GPU_BUDGET_BYTES, formatBytes, GIB } from "../pipeline/memory_plan.ts";
import { platform } from "../platform/mod.ts";
import { UsageError } from "./usage_error.ts";
import { ImageEngine } from "../serve/engine.ts";
import { ensureEmbeddedModel } from "../platform/deno/embedded_model.ts";
import { downloadProgress, type GenerateIo } from "./generate_command.ts";
import { EMBEDDED_DEFAULTS, hubSpecOf, MODEL_DEFAULTS, modelChoice } from "./generate_request.ts";
import { createGpu, type GpuContext } from "../gpu/context.ts";
import { Ideogram4Pipeline } from "../pipeline/pipeline.ts";
import { MAX_PROMPT_TOKENS } from "../text/tokenizer.ts";
import {
  type EnvLookup,
  MAGIC_PROMPT_FLAGS,
  type PromptFlagValues,
  promptSettingsFromFlags,
} from "./prompt_commands.ts";

export const WARM_MODEL_FLAGS = {
  ...MAGIC_PROMPT_FLAGS,
  model: { type: "string" },
  quantization: { type: "string" },
  revision: { type: "string" },
  offline: { type: "boolean" },
  "gpu-memory": { type: "string" },
  "text-encoder": { type: "string", default: "auto" },
  quiet: { type: "boolean", short: "q" },
  help: { type: "boolean", short: "h" },
} as const;

export const WARM_MODEL_USAGE = `Model (as for generate; without --model the embedded tiny model):
  --model DIR|ORG/NAME      checkpoint folder or Hub repo; env IDEOGRAM4_MODEL
  --quantization nf4|fp8    the released nf4 or fp8 weights from the Hub
  --revision REV            --offline
  --gpu-memory GIB          GPU memory to plan each request for (default ${
  DEFAULT_GPU_BUDGET_BYTES / GIB
})
  --text-encoder auto|keep|free
                            keep the text encoder loaded between prompts, or free it after each
                            (reloaded for the next); auto keeps it when the memory plan for the
                            default size still holds both transformers resident (default auto)
  -q, --quiet               no progress lines`;

export interface WarmModelValues extends PromptFlagValues {
  model?: string;
  quantization?: string;
  revision?: string;
  offline?: boolean;
  "gpu-memory"?: string;
  "text-encoder"?: string;
  quiet?: boolean;
}

/**
 * Resolves the model (downloading it when it is a Hub repo) and opens the
 * engine. Throws {@link UsageError} for bad flags.
 */
export async function openEngineFromFlags(
  v: WarmModelValues,
  io: GenerateIo,
): Promise<{ engine: ImageEngine; embedded: boolean; dir: string }> {
  const p = platform();
  const env: EnvLookup = io.env ?? ((name) => p.env(name));
  const choice = modelChoice(v, env);
  const { budgetBytes, embedded } = choice;
  const settings = await promptSettingsFromFlags(v, env);
  for (const w of settings.warnings) io.stderr(`warning: ${w}`);
  const textEncoder = v["text-encoder"] ?? "auto";
  if (!["auto", "keep", "free"].includes(textEncoder)) {
    throw new UsageError(`--text-encoder ${textEncoder}: use auto, keep or free`);
  }
  const dir = embedded ? await ensureEmbeddedModel(env) : await resolveModel({
    ...hubSpecOf(choice, env),
    onProgress: v.quiet ? undefined : downloadProgress(io),
  });
  if (!v.quiet) {
    io.stderr(
      `model: ${embedded ? "the embedded tiny random-weight model" : dir} ` +
        `(GPU memory budget ${formatBytes(budgetBytes)})`,
    );
  }
  const ctx = await createGpu();
  try {
    const defaults = embedded ? EMBEDDED_DEFAULTS : MODEL_DEFAULTS;
    const keep = textEncoder === "auto"
      ? await textEncoderFits(ctx, dir, budgetBytes, defaults.width, defaults.height)
      : textEncoder === "keep";
    if (!v.quiet) {
      io.stderr(
        `text encoder: ${keep ? "kept loaded between prompts" : "freed after each prompt"}` +
          (textEncoder === "auto" ? " (--text-encoder auto)" : ""),
      );
    }
    const engine = await ImageEngine.open({
      dir,
      gpuBudgetBytes: budgetBytes,
      keepTextEncoder: keep,
      settings,
      ctx,
      ownsContext: true,
    });
    return { engine, embedded, dir };
  } catch (e) {
    ctx.destroy();
    throw e;
  }
}

/**
 * Whether the text encoder can stay loaded without costing the transformers
 * their residency: the memory plan for `width`×`height` with the longest
 * prompt keeps both resident and does not free them before decoding. Reads
 * the checkpoint's headers only (a checkpoint with problems is an error here,
 * before the server starts).
 */
export async function textEncoderFits(
  ctx: GpuContext,
  dir: string,
  budgetBytes: number,
  width: number,
  height: number,
): Promise<boolean> {
  const probe = await Ideogram4Pipeline.open(ctx, dir, {
    keepTextEncoder: true,
    gpuBudgetBytes: budgetBytes,
  });
  try {
    const plan = await probe.planMemory(width, height, MAX_PROMPT_TOKENS, 1);
    return plan.fits && plan.residency.cond === "resident" &&
      plan.residency.uncond === "resident" && !plan.freeTransformersBeforeDecode;
  } finally {
    probe.release();
  }
}
