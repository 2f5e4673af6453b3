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
 * mmap, env). The portable part (`src/lib.ts`) is also the browser bundle
 * (`web/ideogram4.ts`), where a page calls `setPlatform(browserPlatform({...}))`
 * first.
 *
 * @example Generate a PNG
 * ```ts
 * import { createGpu, encodePng, Ideogram4Pipeline } from "@ideogram4/webgpu";
 *
 * const ctx = await createGpu();
 * const pipe = await Ideogram4Pipeline.open(ctx, "/models/ideogram-4-nf4");
 * const img = await pipe.generate({ prompt: "a lighthouse at dusk", preset: "V4_TURBO_12" });
 * await Deno.writeFile("out.png", encodePng(img.rgb, img.width, img.height, {}));
 * pipe.release();
 * ```
 *
 * @module
 */
import { setPlatform } from "./src/platform/mod.ts";

// The Deno platform pulls in Deno/Node APIs, so a browser never loads it.
if ("Deno" in globalThis) {
  const { denoPlatform } = await import("./src/platform/deno.ts");
  setPlatform(denoPlatform());
}

export * from "./src/lib.ts";

// Deno only: Hugging Face downloads and the embedded model's cache folder.
export {
  DEFAULT_NETWORK,
  DEFAULT_REPOS,
  HubError,
  HubNetworkError,
  resolveModel,
} from "./src/platform/deno/hub.ts";
export type {
  HubProgress,
  NetworkPolicy,
  Quantization,
  ResolveModelSpec,
} from "./src/platform/deno/hub.ts";
export type { EnvLookup } from "./src/platform/deno/hub/settings.ts";
export { ensureEmbeddedModel } from "./src/platform/deno/embedded_model.ts";
