/**
 * The browser build of ideogram4-webgpu: everything `mod.ts` exports, minus
 * the Deno platform. `deno task build:web` bundles this file (with its npm
 * dependencies) into one ES module, `web/dist/ideogram4.js`.
 *
 * `mod.ts` registers the Deno platform when it runs under Deno, through a
 * dynamic import a bundler would follow (and with it FFI, `node:path` and
 * `Deno.*`); this entry never names it. A page registers its own platform
 * first: `setPlatform(browserPlatform({ files, baseUrl }))`.
 *
 * Keep the export list equal to `mod.ts`'s: `tests/web/entry_exports_test.ts`
 * fails when the two differ (Deno-only exports are listed there by name).
 */

// Platform
export { platform, setPlatform } from "../src/platform/mod.ts";
export type { ByteSource, Platform } from "../src/platform/mod.ts";
export { browserPlatform, filesByRelativePath } from "../src/platform/browser.ts";
export type { BrowserPlatformOptions } from "../src/platform/browser.ts";

// GPU runtime
export { createGpu, GpuContext, NO_ADAPTER_HELP } from "../src/gpu/context.ts";
export type { GpuFeatures, GpuOptions } from "../src/gpu/context.ts";
export { Tensor, TensorTooLargeError } from "../src/gpu/tensor.ts";
export type { Shape } from "../src/gpu/tensor.ts";
export type { DType } from "../src/dtype.ts";
export { timeGpu } from "../src/gpu/timing.ts";

// Weights I/O
export { SafetensorsFile } from "../src/io/safetensors.ts";
export { Checkpoint } from "../src/io/checkpoint.ts";
export type { TensorInfo, TensorStore } from "../src/io/tensor_store.ts";
export { linearFormat, loadHostLinear, loadHostTensorF32 } from "../src/io/linear_loader.ts";
export { dequantizeRef } from "../src/io/host_linear.ts";
export type { HostLinear } from "../src/io/host_linear.ts";
export { writeSafetensors, writeShardedSafetensors } from "../src/io/safetensors_writer.ts";
export { quantizeFp8, quantizeNf4 } from "../src/io/quantize.ts";

// Kernels
export { linear, LinearWeight, uploadLinear } from "../src/ops/linear.ts";
export { attention } from "../src/ops/attention.ts";

// Pipeline and sampler
export { COMPONENT_FOLDERS, Ideogram4Pipeline, LATENT_CHANNELS } from "../src/pipeline/pipeline.ts";
export type {
  GenerateOptions,
  GenerateResult,
  PipelineOptions,
  StepProgress,
} from "../src/pipeline/pipeline.ts";
export { PromptEncoder } from "../src/pipeline/prompt_encoder.ts";
export type { PromptEncoderOptions, PromptFeatures } from "../src/pipeline/prompt_encoder.ts";
export { PRESET_NAMES, PRESETS, resolveSampling } from "../src/pipeline/presets.ts";
export type { SamplingOptions, SamplingPlan } from "../src/pipeline/presets.ts";
export { eulerSteps, inverseNormalCdf } from "../src/pipeline/schedule.ts";
export type { EulerStep } from "../src/pipeline/schedule.ts";
export { gaussianNoise, randomSeed } from "../src/pipeline/noise.ts";
export { initNoiseFromNpy, readNpy, writeNpy } from "../src/pipeline/npy.ts";
export { latentGrid, SizeError, validateSize } from "../src/pipeline/size.ts";
export { decodePngRgb, encodePng, readPngText } from "../src/image/png.ts";

// Tokenizer
export { loadTokenizer } from "../src/text/load.ts";
export { MAX_PROMPT_TOKENS, PromptTooLongError, Qwen3Tokenizer } from "../src/text/tokenizer.ts";

// Models
export { DiT } from "../src/models/dit.ts";
export type { DiTInputs, DiTLoadOptions } from "../src/models/dit.ts";
export type { DiTConfig } from "../src/models/dit_config.ts";
export { loadVaeDecoder, VaeDecoder } from "../src/models/vae_decoder.ts";
export type { VaeDecoderOptions } from "../src/models/vae_decoder.ts";
export { Qwen3TextEncoder } from "../src/models/qwen3_encoder.ts";
export type { Qwen3LoadOptions } from "../src/models/qwen3_encoder.ts";
export { QWEN3_TAP_LAYERS } from "../src/models/qwen3_config.ts";
export type { Qwen3Config } from "../src/models/qwen3_config.ts";

// Prompts, magic prompt, moderation
export * from "../src/prompt/mod.ts";
