/**
 * What the pipeline reports when a value goes non-finite (NaN or ±Inf): the
 * stage where the on-GPU check (`ops/nonfinite.ts`) saw it first, and, found
 * only then by scanning the checkpoint, the weight tensors that hold
 * non-finite values. A run never pays for the scan; a failed run names the
 * broken tensor instead of writing a black image.
 */
import { Checkpoint } from "../io/checkpoint.ts";
import type { SafetensorsDType } from "../io/tensor_store.ts";
import type { Platform } from "../platform/types.ts";

/** Where a non-finite value showed first. */
export type NonFiniteStage =
  | { kind: "text features" }
  | { kind: "step"; step: number; steps: number }
  | { kind: "decode" };

/** One weight tensor with non-finite values. */
export interface BadWeight {
  /** Component folder, e.g. `vae`. */
  folder: string;
  /** The tensor's name in the checkpoint. */
  tensor: string;
  /** The safetensors file that holds it. */
  file: string;
  /** Non-finite values in it. */
  count: number;
}

/**
 * A generation stopped at a non-finite value. `origin`: `"weights"` when the
 * scan found broken tensors (listed in `weights`), `"settings"` when none was
 * found and the request had custom numbers (guidance, schedule, initial
 * noise) that can overflow, `"unknown"` otherwise.
 */
export class NonFiniteError extends Error {
  /** `count` non-finite values at `stage`; the message names the stage and any bad weights. */
  constructor(
    readonly stage: NonFiniteStage,
    readonly count: number,
    readonly origin: "weights" | "settings" | "unknown",
    readonly weights: BadWeight[],
  ) {
    super(nonFiniteMessage(stage, count, origin, weights));
    this.name = "NonFiniteError";
  }
}

export function stageName(s: NonFiniteStage): string {
  return s.kind === "step" ? `sampling step ${s.step}/${s.steps}` : s.kind;
}

function nonFiniteMessage(
  stage: NonFiniteStage,
  count: number,
  origin: NonFiniteError["origin"],
  weights: BadWeight[],
): string {
  const head = `${count} non-finite value(s) (NaN or Inf) in the ${
    stage.kind === "step" ? "latents after " : ""
  }${stageName(stage)}; stopped, nothing written`;
  if (origin === "weights") {
    const list = weights.map((w) => `${w.folder}: '${w.tensor}' has ${w.count} (${w.file})`);
    return `${head}. The checkpoint has non-finite weights:\n  ${list.join("\n  ")}\n` +
      "The file is damaged: download it again (or delete the cache folder to rebuild it).";
  }
  if (origin === "settings") {
    return `${head}. No weight is non-finite: the custom sampling numbers (guidance, mu, std ` +
      "or the initial noise) overflow; use smaller values or a preset.";
  }
  return `${head}. No weight is non-finite; the GPU or its driver may be at fault ` +
    "(try another adapter, e.g. DENO_WEBGPU_BACKEND=vulkan).";
}

/** The component folders whose weights can cause a non-finite value at `stage`. */
export function suspectFolders(stage: NonFiniteStage): string[] {
  switch (stage.kind) {
    case "text features":
      return ["text_encoder"];
    case "step":
      return ["transformer", "unconditional_transformer"];
    case "decode":
      return ["vae"];
  }
}

/** Tensors listed at most per scan (a file full of NaN would list all of them). */
const MAX_LISTED = 8;

/** Whether the raw little-endian value at `i` of a `dtype` tensor is NaN or ±Inf. */
function nonFiniteCount(dtype: SafetensorsDType, b: Uint8Array): number {
  let n = 0;
  switch (dtype) {
    case "F32":
      // Exponent bits all ones: the high byte's low 7 bits and the next byte's top bit.
      for (let i = 3; i < b.length; i += 4) {
        if ((b[i] & 0x7f) === 0x7f && (b[i - 1] & 0x80) === 0x80) n++;
      }
      return n;
    case "F16":
      for (let i = 1; i < b.length; i += 2) if ((b[i] & 0x7c) === 0x7c) n++;
      return n;
    case "BF16":
      for (let i = 1; i < b.length; i += 2) {
        if ((b[i] & 0x7f) === 0x7f && (b[i - 1] & 0x80) === 0x80) n++;
      }
      return n;
    case "F8_E4M3":
      // E4M3 (fn) has no Inf; S.1111.111 is NaN.
      for (let i = 0; i < b.length; i++) if ((b[i] & 0x7f) === 0x7f) n++;
      return n;
    default:
      return 0; // integers and packed nf4 codes cannot be non-finite
  }
}

/** Every floating-point tensor of the given component folders with NaN or ±Inf values. */
export async function findNonFiniteWeights(
  dir: string,
  folders: string[],
  platform: Platform,
): Promise<BadWeight[]> {
  const found: BadWeight[] = [];
  for (const folder of folders) {
    const ckpt = await Checkpoint.open(platform.join(dir, folder), { platform });
    try {
      for (const name of ckpt.names()) {
        const info = ckpt.info(name);
        const count = nonFiniteCount(info.dtype, await ckpt.bytes(name));
        if (count > 0) found.push({ folder, tensor: name, file: info.file, count });
        if (found.length >= MAX_LISTED) return found;
      }
    } finally {
      ckpt.close();
    }
  }
  return found;
}
