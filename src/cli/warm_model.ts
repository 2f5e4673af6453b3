/**
 * The flags `serve` and `batch` share: which model to load (as `generate`
 * picks it), the GPU memory budget, and the prompt step's services, turned
 * into one warm {@link ImageEngine}.
 */
import { type Quantization, resolveModel } from "../io/hub.ts";
import { DEFAULT_GPU_BUDGET_BYTES, formatBytes, GIB } from "../pipeline/memory_plan.ts";
import { platform } from "../platform/mod.ts";
import { PromptRejectedError } from "../prompt/errors.ts";
import { ImageEngine } from "../serve/engine.ts";
import { ensureEmbeddedModel } from "./embedded_model.ts";
import { downloadProgress, type GenerateIo } from "./generate_command.ts";
import { numberOption } from "./generate_request.ts";
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
  "free-text-encoder": { type: "boolean" },
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
  --free-text-encoder       free the text encoder after each prompt (reloaded for the next;
                            for GPUs that cannot hold it beside the transformers)
  -q, --quiet               no progress lines`;

export interface WarmModelValues extends PromptFlagValues {
  model?: string;
  quantization?: string;
  revision?: string;
  offline?: boolean;
  "gpu-memory"?: string;
  "free-text-encoder"?: boolean;
  quiet?: boolean;
}

/**
 * Resolves the model (downloading it when it is a Hub repo) and opens the
 * engine. Throws {@link PromptRejectedError} for bad flags.
 */
export async function openEngineFromFlags(
  v: WarmModelValues,
  io: GenerateIo,
): Promise<{ engine: ImageEngine; embedded: boolean; dir: string }> {
  const p = platform();
  const env: EnvLookup = io.env ?? ((name) => p.env(name));
  const gpuMemory = numberOption("gpu-memory", v["gpu-memory"]);
  if (gpuMemory !== undefined && !(gpuMemory > 0)) {
    throw new PromptRejectedError(`--gpu-memory ${v["gpu-memory"]}: must be a number of GiB > 0`);
  }
  const budgetBytes = gpuMemory === undefined ? DEFAULT_GPU_BUDGET_BYTES : gpuMemory * GIB;
  if (v.quantization !== undefined && v.quantization !== "nf4" && v.quantization !== "fp8") {
    throw new PromptRejectedError(`--quantization ${v.quantization}: use nf4 or fp8`);
  }
  const settings = await promptSettingsFromFlags(v, env);
  for (const w of settings.warnings) io.stderr(`warning: ${w}`);
  const model = v.model ?? env("IDEOGRAM4_MODEL");
  const embedded = model === undefined && v.quantization === undefined;
  const dir = embedded ? await ensureEmbeddedModel(env) : await resolveModel({
    model,
    quantization: v.quantization as Quantization | undefined,
    revision: v.revision,
    offline: v.offline ? true : undefined,
    env,
    onProgress: v.quiet ? undefined : downloadProgress(io),
  });
  if (!v.quiet) {
    io.stderr(
      `model: ${embedded ? "the embedded tiny random-weight model" : dir} ` +
        `(GPU memory budget ${formatBytes(budgetBytes)})`,
    );
  }
  const engine = await ImageEngine.open({
    dir,
    gpuBudgetBytes: budgetBytes,
    keepTextEncoder: v["free-text-encoder"] !== true,
    settings,
  });
  return { engine, embedded, dir };
}
