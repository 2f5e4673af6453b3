/**
 * One image request from the CLI's options, checked and resolved in one
 * place for every way a request arrives: `generate` flags, `batch` lines and
 * the server's native endpoint (whose JSON keys are the flag names). Size,
 * seed and sampling are refused here, before anything is loaded, with a
 * message naming the option as the user wrote it (`--width` on the command
 * line, `$.width` in JSON). Also shared: which model the flags pick
 * ({@link modelChoice}) and the PNG an image request writes
 * ({@link requestPng}).
 */
import { UsageError } from "./usage_error.ts";
import { resolveSampling, type SamplingOptions, type SamplingPlan } from "../pipeline/presets.ts";
import { validateSize } from "../pipeline/size.ts";
import { DEFAULT_GPU_BUDGET_BYTES, GIB } from "../pipeline/memory_plan.ts";
import { encodePng } from "../image/png.ts";
import type { Quantization, ResolveModelSpec } from "../platform/deno/hub.ts";
import type { EnvLookup } from "../platform/deno/hub/settings.ts";

/** What a run on the embedded model uses unless options say otherwise: quick on any adapter. */
export const EMBEDDED_DEFAULTS = { width: 256, height: 256, preset: "V4_TURBO_12" } as const;
/** Size and preset for a real checkpoint when none is given. */
export const MODEL_DEFAULTS = { width: 1024, height: 1024 } as const;

/** The per-image options of `generate`, as `parseArgs` gives them (strings). */
export interface RequestFlags {
  width?: string;
  height?: string;
  "sampler-preset"?: string;
  steps?: string;
  guidance?: string;
  mu?: string;
  std?: string;
  seed?: string;
}

/** A checked request: everything `Ideogram4Pipeline.generate` needs besides the prompt. */
export interface ImageRequest {
  width: number;
  height: number;
  /** Undefined only when no seed was given and none is defaulted (the caller picks one). */
  seed?: number;
  /** As given (preset name, custom steps/guidance/schedule), for `generate`. */
  sampling: SamplingOptions;
  /** Resolved: steps, guidance per step, schedule. */
  plan: SamplingPlan;
  /** The preset's name, or `custom N steps`. */
  planName: string;
}

/** How an option is named in messages: `--width` (CLI) or `$.width` (JSON). */
export type OptionLabel = (option: string) => string;
export const flagLabel: OptionLabel = (option) => `--${option}`;
export const jsonLabel: OptionLabel = (option) => `$.${option}`;

/** An integer option, or a {@link UsageError} naming it. */
export function intOption(
  name: string,
  v: string | undefined,
  label: OptionLabel = flagLabel,
): number | undefined {
  if (v === undefined) return undefined;
  if (!/^-?\d+$/.test(v.trim())) {
    throw new UsageError(`${label(name)} ${v}: not an integer`);
  }
  return Number(v);
}

/** A finite number option, or a {@link UsageError} naming it. */
export function numberOption(
  name: string,
  v: string | undefined,
  label: OptionLabel = flagLabel,
): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n)) {
    throw new UsageError(`${label(name)} ${v}: not a number`);
  }
  return n;
}

/**
 * Resolves size, seed and sampling from the options; `embedded` selects the
 * embedded model's defaults. Throws {@link UsageError} or
 * `SizeError` (both: the user's input).
 */
export function imageRequestFromFlags(
  v: RequestFlags,
  embedded: boolean,
  label: OptionLabel = flagLabel,
): ImageRequest {
  const defaults = embedded ? EMBEDDED_DEFAULTS : MODEL_DEFAULTS;
  const width = intOption("width", v.width, label) ?? defaults.width;
  const height = intOption("height", v.height, label) ?? defaults.height;
  validateSize(width, height);
  const seed = intOption("seed", v.seed, label);
  if (seed !== undefined && (seed < 0 || !Number.isSafeInteger(seed))) {
    throw new UsageError(
      `${label("seed")} ${v.seed}: must be an integer from 0 to 2^53-1`,
    );
  }
  const guidance = v.guidance?.split(",").map((g) => numberOption("guidance", g, label)!);
  const sampling: SamplingOptions = {
    preset: v["sampler-preset"] ??
      (embedded && v.steps === undefined ? EMBEDDED_DEFAULTS.preset : undefined),
    steps: intOption("steps", v.steps, label),
    guidance: guidance?.length === 1 ? guidance[0] : guidance,
    mu: numberOption("mu", v.mu, label),
    std: numberOption("std", v.std, label),
  };
  let plan;
  try {
    plan = resolveSampling(sampling);
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  return {
    width,
    height,
    seed,
    sampling,
    plan,
    planName: plan.preset ?? `custom ${plan.steps} steps`,
  };
}

/** The kind of value each option takes: text (numbers given as text) or a switch. */
export type OptionKinds = Record<string, "string" | "boolean">;

/**
 * A JSON object whose keys are option names → the values `parseArgs` would
 * give for the same flags: numbers become text, a guidance list is joined
 * with commas, switches must be booleans. An unknown key or a value of the
 * wrong type is a {@link UsageError} naming its JSON path
 * (`path` is the object's own, e.g. `$` or `$[3]`). `refused` maps keys that
 * exist elsewhere (server start flags) to why they cannot be given here.
 */
export function flagsFromJson(
  obj: unknown,
  kinds: OptionKinds,
  path = "$",
  refused: Record<string, string> = {},
): Record<string, string | boolean | undefined> {
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
    throw new UsageError(`${path}: expected a JSON object`);
  }
  const out: Record<string, string | boolean | undefined> = {};
  for (const [key, value] of Object.entries(obj)) {
    const at = `${path}.${key}`;
    if (refused[key] !== undefined) throw new UsageError(`${at}: ${refused[key]}`);
    const kind = kinds[key];
    if (kind === undefined) {
      throw new UsageError(
        `${at}: unknown option (known: ${Object.keys(kinds).join(", ")})`,
      );
    }
    if (value === null) continue;
    if (kind === "boolean") {
      if (typeof value !== "boolean") {
        throw new UsageError(`${at}: expected true or false`);
      }
      out[key] = value;
    } else if (typeof value === "string") {
      out[key] = value;
    } else if (typeof value === "number") {
      out[key] = String(value);
    } else if (key === "guidance" && Array.isArray(value) && value.length > 0) {
      value.forEach((g, i) => {
        if (typeof g !== "number") throw new UsageError(`${at}[${i}]: expected a number`);
      });
      out[key] = value.join(",");
    } else {
      throw new UsageError(
        `${at}: expected ${
          key === "guidance" ? "a number or a list of numbers" : "text or a number"
        }`,
      );
    }
  }
  return out;
}

/**
 * The flags that pick the model and its GPU plan, checked: `--gpu-memory GIB`
 * (a number > 0; default {@link DEFAULT_GPU_BUDGET_BYTES}) and
 * `--quantization nf4|fp8`. Shared by `generate`, `serve` and `batch`.
 */
export function modelFlags(
  v: { "gpu-memory"?: string; quantization?: string },
): { budgetBytes: number; quantization: Quantization | undefined } {
  const gpuMemory = numberOption("gpu-memory", v["gpu-memory"]);
  if (gpuMemory !== undefined && !(gpuMemory > 0)) {
    throw new UsageError(`--gpu-memory ${v["gpu-memory"]}: must be a number of GiB > 0`);
  }
  const q = v.quantization;
  if (q !== undefined && q !== "nf4" && q !== "fp8") {
    throw new UsageError(`--quantization ${q}: use nf4 or fp8`);
  }
  return {
    budgetBytes: gpuMemory === undefined ? DEFAULT_GPU_BUDGET_BYTES : gpuMemory * GIB,
    quantization: q,
  };
}

/** The model the flags pick, and its GPU memory budget. */
export interface ModelChoice {
  /** `--model` (a folder or a Hub repo), else `IDEOGRAM4_MODEL`. */
  model: string | undefined;
  /** `--quantization`. */
  quantization: Quantization | undefined;
  /** `--revision`. */
  revision: string | undefined;
  /** `--offline` (true), else undefined: the Hub settings decide. */
  offline: true | undefined;
  /** `--gpu-memory`, in bytes. */
  budgetBytes: number;
  /** Neither a model nor a quantization: the embedded tiny model. */
  embedded: boolean;
}

/**
 * The model flags, checked ({@link modelFlags}), with `IDEOGRAM4_MODEL` when
 * `--model` is not given. Shared by `generate`, `serve` and `batch`.
 */
export function modelChoice(
  v: {
    model?: string;
    quantization?: string;
    revision?: string;
    offline?: boolean;
    "gpu-memory"?: string;
  },
  env: EnvLookup,
): ModelChoice {
  const { budgetBytes, quantization } = modelFlags(v);
  const model = v.model ?? env("IDEOGRAM4_MODEL");
  return {
    model,
    quantization,
    revision: v.revision,
    offline: v.offline ? true : undefined,
    budgetBytes,
    embedded: model === undefined && quantization === undefined,
  };
}

/** What `resolveModel` needs to find (or download) the chosen model. */
export function hubSpecOf(m: ModelChoice, env: EnvLookup): ResolveModelSpec {
  return {
    model: m.model,
    quantization: m.quantization,
    revision: m.revision,
    offline: m.offline,
    env,
  };
}

/**
 * The PNG of one generated image, with the request in its text chunks
 * (`Caption`, `Seed`, `Size`, `Preset`, `Steps`, `Software`): the same for
 * `generate`, `serve` and `batch`. `seed` is the seed's text (or
 * `init-noise FILE`).
 */
export function requestPng(
  rgb: Uint8Array,
  request: ImageRequest,
  caption: string,
  seed: string,
): Uint8Array {
  return encodePng(rgb, request.width, request.height, {
    Caption: caption,
    Seed: seed,
    Size: `${request.width}x${request.height}`,
    Preset: request.planName,
    Steps: String(request.plan.steps),
    Software: "ideogram4-webgpu",
  });
}
