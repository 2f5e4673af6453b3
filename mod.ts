/**
 * ideogram4-webgpu: Ideogram 4 text-to-image on WebGPU, in TypeScript.
 *
 * The public API, from the top down:
 * - the pipeline: `Ideogram4Pipeline.open(ctx, dir)` then `generate({prompt,
 *   width, height, preset, seed, onProgress})` → RGB pixels; `encodePng`
 *   writes them with the caption in text chunks (`src/pipeline/`,
 *   `src/image/`);
 * - components on their own: `PromptEncoder` (prompt → token ids →
 *   features), `DiT`, `VaeDecoder`, the sampler's schedule and noise;
 * - prompts: JSON captions (types, verifier, canonical form, builder), magic
 *   prompt backends, Hive moderation (`src/prompt/`);
 * - models: the Qwen3 tokenizer (`src/text/`), the Qwen3-VL text encoder
 *   (13-layer features), the DiT and the Flux2 VAE decoder (`src/models/`);
 * - the GPU runtime and kernels they are built from (`src/gpu/`, `src/ops/`);
 * - weights I/O: safetensors (memory-mapped under Deno, `File`/`fetch` ranges
 *   in a browser), sharded checkpoints, nf4 / fp8 / dense Linear weights
 *   (`src/io/`).
 *
 * Under Deno, importing this module registers the Deno platform (files,
 * mmap, env). In a browser, call `setPlatform(browserPlatform({...}))` first.
 */
import { setPlatform } from "./src/platform/mod.ts";

// The Deno platform pulls in Deno/Node APIs, so a browser never loads it.
if ("Deno" in globalThis) {
  const { denoPlatform } = await import("./src/platform/deno.ts");
  setPlatform(denoPlatform());
}

// Platform
export { platform, setPlatform } from "./src/platform/mod.ts";
export type { ByteSource, Platform } from "./src/platform/mod.ts";
export { browserPlatform, filesByRelativePath } from "./src/platform/browser.ts";
export type { BrowserPlatformOptions } from "./src/platform/browser.ts";

// GPU runtime
export { createGpu, GpuContext, NO_ADAPTER_HELP } from "./src/gpu/context.ts";
export type { GpuFeatures, GpuOptions } from "./src/gpu/context.ts";
export { Tensor, TensorTooLargeError } from "./src/gpu/tensor.ts";
export type { Shape } from "./src/gpu/tensor.ts";
export type { DType } from "./src/dtype.ts";
export { timeGpu } from "./src/gpu/timing.ts";

// Weights I/O
export { SafetensorsFile } from "./src/io/safetensors.ts";
export { Checkpoint } from "./src/io/checkpoint.ts";
export type { TensorInfo, TensorStore } from "./src/io/tensor_store.ts";
export { linearFormat, loadHostLinear, loadHostTensorF32 } from "./src/io/linear_loader.ts";
export { dequantizeRef } from "./src/io/host_linear.ts";
export type { HostLinear } from "./src/io/host_linear.ts";
export { writeSafetensors, writeShardedSafetensors } from "./src/io/safetensors_writer.ts";
export { quantizeFp8, quantizeNf4 } from "./src/io/quantize.ts";

// Kernels
export { linear, LinearWeight, uploadLinear } from "./src/ops/linear.ts";
export { attention } from "./src/ops/attention.ts";

// Pipeline and sampler
export { COMPONENT_FOLDERS, Ideogram4Pipeline, LATENT_CHANNELS } from "./src/pipeline/pipeline.ts";
export type {
  GenerateOptions,
  GenerateResult,
  PipelineOptions,
  StepProgress,
} from "./src/pipeline/pipeline.ts";
export { PromptEncoder } from "./src/pipeline/prompt_encoder.ts";
export type { PromptEncoderOptions, PromptFeatures } from "./src/pipeline/prompt_encoder.ts";
export { PRESET_NAMES, PRESETS, resolveSampling } from "./src/pipeline/presets.ts";
export type { SamplingOptions, SamplingPlan } from "./src/pipeline/presets.ts";
export { eulerSteps, inverseNormalCdf } from "./src/pipeline/schedule.ts";
export type { EulerStep } from "./src/pipeline/schedule.ts";
export { gaussianNoise, randomSeed } from "./src/pipeline/noise.ts";
export { initNoiseFromNpy, readNpy, writeNpy } from "./src/pipeline/npy.ts";
export { latentGrid, SizeError, validateSize } from "./src/pipeline/size.ts";
export { decodePngRgb, encodePng, readPngText } from "./src/image/png.ts";

// Tokenizer
export { loadTokenizer } from "./src/text/load.ts";
export { MAX_PROMPT_TOKENS, PromptTooLongError, Qwen3Tokenizer } from "./src/text/tokenizer.ts";

// Models
export { DiT } from "./src/models/dit.ts";
export type { DiTInputs, DiTLoadOptions } from "./src/models/dit.ts";
export type { DiTConfig } from "./src/models/dit_config.ts";
export { loadVaeDecoder, VaeDecoder } from "./src/models/vae_decoder.ts";
export type { VaeDecoderOptions } from "./src/models/vae_decoder.ts";
export { Qwen3TextEncoder } from "./src/models/qwen3_encoder.ts";
export type { Qwen3LoadOptions } from "./src/models/qwen3_encoder.ts";
export { QWEN3_TAP_LAYERS } from "./src/models/qwen3_config.ts";
export type { Qwen3Config } from "./src/models/qwen3_config.ts";

// Prompts, magic prompt, moderation
export * from "./src/prompt/mod.ts";
