/**
 * The portable library: everything `mod.ts` exports except the Deno-only
 * parts (the Deno platform, Hub downloads, the embedded model's cache, all
 * under `src/platform/deno*`). The browser bundle (`web/ideogram4.ts`)
 * exports exactly this; `tests/boundaries_test.ts` checks that nothing it
 * imports uses Deno.
 */

// Platform
export { platform, setPlatform } from "./platform/mod.ts";
export type { ByteSource, Platform } from "./platform/mod.ts";
export { browserPlatform, filesByRelativePath } from "./platform/browser.ts";
export type { BrowserPlatformOptions } from "./platform/browser.ts";

// GPU runtime
export { createGpu, GpuContext, NO_ADAPTER_HELP } from "./gpu/context.ts";
export type { GpuFeatures, GpuOptions } from "./gpu/context.ts";
export { Tensor, TensorTooLargeError } from "./gpu/tensor.ts";
export { ShapeOnlyError } from "./gpu/shape_only.ts";
export type { Shape } from "./gpu/tensor.ts";
export { type HoldsTensors, SCOPE_TENSORS, TensorScopes } from "./gpu/scope.ts";
export type { DType } from "./dtype.ts";
export { timeGpu } from "./gpu/timing.ts";

// Weights I/O
export { SafetensorsFile } from "./io/safetensors.ts";
export { Checkpoint } from "./io/checkpoint.ts";
export type { TensorInfo, TensorStore } from "./io/tensor_store.ts";
export { linearFormat, loadHostLinear, loadHostTensorF32 } from "./io/linear_loader.ts";
export { dequantizeRef } from "./formats/mod.ts";
export type { HostLinear, LinearFormatName } from "./formats/mod.ts";
export { writeSafetensors, writeShardedSafetensors } from "./io/safetensors_writer.ts";
export { quantizeFp8, quantizeNf4 } from "./io/quantize.ts";

// Kernels
export { linear, LinearWeight, uploadLinear } from "./ops/linear.ts";
export { attention } from "./ops/attention.ts";
export { countNonFinite, nonFiniteCounters } from "./ops/nonfinite.ts";

// Pipeline and sampler
export { Ideogram4Pipeline } from "./pipeline/pipeline.ts";
export { COMPONENT_FOLDERS } from "./io/model_folders.ts";
import { TOKEN_CHANNELS } from "./models/ops/unpatchify.ts";
export { TOKEN_CHANNELS };
/**
 * @deprecated Use {@link TOKEN_CHANNELS} (the same 128): "latent channels"
 * also names the VAE's 32 (`VaeConfig.latentChannels`).
 */
export const LATENT_CHANNELS: typeof TOKEN_CHANNELS = TOKEN_CHANNELS;
export type {
  GenerateOptions,
  GenerateResult,
  PipelineOptions,
  StepProgress,
} from "./pipeline/pipeline.ts";
export { PromptEncoder } from "./pipeline/prompt_encoder.ts";
export type { PromptEncoderOptions, PromptFeatures } from "./pipeline/prompt_encoder.ts";
export { PRESET_NAMES, PRESETS, resolveSampling } from "./pipeline/presets.ts";
export type { SamplingOptions, SamplingPlan } from "./pipeline/presets.ts";
export { eulerSteps, inverseNormalCdf } from "./pipeline/schedule.ts";
export type { EulerStep } from "./pipeline/schedule.ts";
export { gaussianNoise, randomSeed } from "./pipeline/noise.ts";
export { initNoiseFromNpy, readNpy, writeNpy } from "./pipeline/npy.ts";
export { latentGrid, sizeAdvice, SizeError, validateSize } from "./pipeline/size.ts";
export { findNonFiniteWeights, NonFiniteError } from "./pipeline/nonfinite.ts";
export type { BadWeight, NonFiniteStage } from "./pipeline/nonfinite.ts";
export { decodePromptText, MAX_PROMPT_FILE_BYTES } from "./prompt/text_file.ts";
export { decodePngRgb, encodePng, readPngText } from "./image/png.ts";

// Tokenizer
export { loadTokenizer } from "./text/load.ts";
export { MAX_PROMPT_TOKENS, PromptTooLongError, Qwen3Tokenizer } from "./text/tokenizer.ts";

// Models
export { DiT } from "./models/dit.ts";
export type { DiTInputs, DiTLoadOptions } from "./models/dit.ts";
export type { DiTConfig } from "./models/dit_config.ts";
export { loadVaeDecoder, VaeDecoder } from "./models/vae_decoder.ts";
export type { VaeDecoderOptions } from "./models/vae_decoder.ts";
export { Qwen3TextEncoder } from "./models/qwen3_encoder.ts";
export type { Qwen3LoadOptions } from "./models/qwen3_encoder.ts";
export { QWEN3_TAP_LAYERS } from "./models/qwen3_config.ts";
export type { Qwen3Config } from "./models/qwen3_config.ts";

// Prompts, magic prompt, moderation
export * from "./prompt/mod.ts";

// Memory planning and checkpoint checks
export {
  DEFAULT_GPU_BUDGET_BYTES,
  formatBytes,
  formatPlan,
  planMemory,
} from "./pipeline/memory_plan.ts";
export type {
  MemoryPlan,
  PlannedComponents,
  PlannedDiT,
  PlanOptions,
  PlanRequest,
  Residency,
} from "./pipeline/memory_plan.ts";
export { checkCheckpoint } from "./pipeline/checkpoint_check.ts";
export type { CheckpointCheck } from "./pipeline/checkpoint_check.ts";
export type { DiTResidency } from "./models/dit.ts";

// Types that the exports above use in their signatures (for documentation and type annotations)
export type { ActDType } from "./ops/common.ts";
export type { AttentionOptions } from "./ops/attention.ts";
export type {
  LinearGpuFormat,
  LinearOptions,
  LinearPart,
  UploadLinearOptions,
} from "./ops/linear.ts";
export type { MropeSections } from "./ops/rope.ts";
export type { BufferBinding, DispatchArgs, ShapeOnlyOptions } from "./gpu/context.ts";
export type { Kernel, KernelSpec, PipelineCache, StorageAccess } from "./gpu/kernel.ts";
export type { BufferAllocator, BufferPool, MemoryStats } from "./gpu/buffer_pool.ts";
export type { HostArray } from "./gpu/tensor.ts";
export type { Timing } from "./gpu/timing.ts";
export type { DenseHostLinear } from "./formats/dense.ts";
export type { Nf4HostLinear } from "./formats/nf4.ts";
export type { Fp8HostLinear } from "./formats/fp8.ts";
export type { Int8HostLinear } from "./formats/int8.ts";
export type { HostTensorF32, LinearLoadOptions } from "./io/linear_loader.ts";
export type { SafetensorsDType } from "./io/tensor_store.ts";
export type { ShardOptions, TensorMap, WriterTensor } from "./io/safetensors_writer.ts";
export type { Nf4Options } from "./io/quantize.ts";
export type { NpyArray } from "./pipeline/npy.ts";
export type { PresetName, SamplingPreset } from "./pipeline/presets.ts";
export type { StagePlan } from "./pipeline/memory_plan.ts";
export type { CheckOptions } from "./pipeline/checkpoint_check.ts";
export type { DiTDeclared } from "./models/dit_config.ts";
export type { Qwen3WeightFormat } from "./models/qwen3_config.ts";
export type { VaeDecoderConfig } from "./models/vae_config.ts";
export type { VaeDecodeOptions, VaeRgb8Options } from "./models/vae_decoder.ts";
export type { RowRange } from "./models/vae_bands.ts";
export type { DecodeOptions, EncodePromptOptions } from "./text/tokenizer.ts";
export type { SerializeOptions } from "./prompt/canonical.ts";
