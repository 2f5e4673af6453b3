/**
 * `generate`'s flags and the request they make: the usage text, the flags,
 * and {@link checkRequest}, which runs steps 1 and 2 of `generate` (flags
 * and numbers, the output path, the prompt, the initial noise) and returns a
 * {@link GenerateRequest}, the value the runner (`generate_command.ts`)
 * needs and nothing else. A refused flag or number is a {@link UsageError},
 * a refused prompt a `PromptRejectedError` (exit 2 both).
 */
import { parseArgs } from "node:util";
import { DEFAULT_GPU_BUDGET_BYTES, GIB } from "../pipeline/memory_plan.ts";
import { initNoiseFromNpy } from "../pipeline/npy.ts";
import { PRESET_NAMES } from "../pipeline/presets.ts";
import { latentGrid, sizeAdvice } from "../pipeline/size.ts";
import type { Platform } from "../platform/types.ts";
import { PromptError, PromptRejectedError } from "../prompt/errors.ts";
import { EXIT_CODES_HELP } from "./exit_codes.ts";
import {
  type ImageRequest,
  imageRequestFromFlags,
  type ModelChoice,
  modelChoice,
} from "./generate_request.ts";
import { checkOutputPath } from "./output_path.ts";
import {
  type CliIo,
  type EnvLookup,
  MAGIC_PROMPT_FLAGS,
  PROMPT_FLAGS_USAGE,
  type PromptFlagValues,
} from "./prompt_commands.ts";
import { UsageError } from "./usage_error.ts";

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

export const GENERATE_FLAGS = {
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

/** The flags as `parseArgs` gives them. */
export type GenerateFlags = ReturnType<
  typeof parseArgs<{ options: typeof GENERATE_FLAGS }>
>["values"];

/** Parses `generate`'s arguments; an unknown or malformed flag is a {@link UsageError} with the usage. */
export function parseGenerateArgs(args: string[]): GenerateFlags {
  try {
    return parseArgs({ args, options: GENERATE_FLAGS, allowPositionals: false }).values;
  } catch (e) {
    throw new UsageError(`${e instanceof Error ? e.message : e}\n\n${GENERATE_USAGE}`);
  }
}

/** The key flags: given but blank is a typing mistake, refused before any work. */
const KEY_FLAGS = ["magic-prompt-key", "hive-text-key", "hive-visual-key"] as const;

/**
 * A `generate` command line, checked (steps 1 and 2): the flags turned into
 * values, and the files they name read. What runs it needs nothing else.
 */
export interface GenerateRequest {
  /** Size, seed and sampling. */
  image: ImageRequest;
  /** The model and the GPU memory budget. */
  model: ModelChoice;
  /** The prompt as given (empty for a dry run without one). */
  prompt: string;
  /** Whether `--prompt` or `--prompt-file` was given (a dry run may go without). */
  promptGiven: boolean;
  /** `--init-noise`: the latents, and the file's name for the PNG's `Seed` chunk. */
  initNoise?: { latents: Float32Array; file: string };
  /** The PNG to write. */
  output: string;
  keepTextEncoder: boolean;
  dryRun: boolean;
  verbose: boolean;
  quiet: boolean;
  /** The prompt step's flags (magic prompt, moderation), resolved in step 3. */
  promptFlags: PromptFlagValues;
  /** Environment lookup: keys, `IDEOGRAM4_MODEL`, the Hub's settings. */
  env: EnvLookup;
}

/** Reads the prompt (file, stdin or flag); an unreadable file is the user's input (exit 2). */
async function readPrompt(
  v: { prompt?: string; "prompt-file"?: string },
  io: CliIo,
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

/** `--init-noise FILE.npy` for an image of `image`'s size; a bad file is the user's input (exit 2). */
async function readInitNoise(
  p: Platform,
  file: string,
  image: ImageRequest,
): Promise<Float32Array> {
  try {
    const src = await p.open(file);
    try {
      const tokens = latentGrid(image.width, image.height).tokens;
      return initNoiseFromNpy(await src.read(0, src.size), file, tokens);
    } finally {
      src.close();
    }
  } catch (e) {
    throw new UsageError(`--init-noise: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** Steps 1 and 2: flags and numbers, the output path, the prompt, the initial noise. */
export async function checkRequest(
  v: GenerateFlags,
  io: CliIo,
  env: EnvLookup,
  p: Platform,
): Promise<GenerateRequest> {
  // ---- 1. flags and numbers
  const dryRun = v["dry-run"] === true;
  const promptGiven = v.prompt !== undefined || v["prompt-file"] !== undefined;
  if (
    (v.prompt !== undefined && v["prompt-file"] !== undefined) || (!promptGiven && !dryRun)
  ) {
    throw new UsageError("give exactly one of --prompt and --prompt-file");
  }
  const model = modelChoice(v, env);
  for (const k of KEY_FLAGS) {
    if (v[k] !== undefined && v[k]!.trim() === "") {
      throw new UsageError(`--${k} is empty; pass the key, or leave the flag out`);
    }
  }
  const image = imageRequestFromFlags(v, model.embedded);
  const sizeWarning = sizeAdvice(image.width, image.height);
  if (sizeWarning) io.stderr(`warning: ${sizeWarning}`);
  const output = v.output!;
  if (!dryRun) await checkOutputPath(output);

  // ---- 2. the prompt and the initial noise (files the user gave)
  const prompt = await readPrompt(v, io);
  if (promptGiven && prompt.trim() === "") throw new PromptRejectedError("the prompt is empty");
  const file = v["init-noise"];
  return {
    image,
    model,
    prompt,
    promptGiven,
    initNoise: file === undefined
      ? undefined
      : { latents: await readInitNoise(p, file, image), file },
    output,
    keepTextEncoder: v["keep-text-encoder"] === true,
    dryRun,
    verbose: v.verbose === true,
    quiet: v.quiet === true,
    promptFlags: v,
    env,
  };
}
