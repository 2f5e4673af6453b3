/**
 * Prompt → token ids → Ideogram 4's text features, usable without the rest
 * of the pipeline (e.g. for embedding research): the tokenizer and the
 * Qwen3-VL text encoder of a checkpoint (`tokenizer/`, `text_encoder/`).
 */
import type { GpuContext } from "../gpu/context.ts";
import type { Tensor } from "../gpu/tensor.ts";
import type { ActDType } from "../ops/common.ts";
import { Qwen3TextEncoder } from "../models/qwen3_encoder.ts";
import { platform as currentPlatform } from "../platform/mod.ts";
import type { Platform } from "../platform/types.ts";
import { loadTokenizer } from "../text/load.ts";
import type { Qwen3Tokenizer } from "../text/tokenizer.ts";

/** A prompt's token ids and text features. */
export interface PromptFeatures {
  /** Token ids after the chat template (no special tokens added). */
  ids: Int32Array;
  /** The chat-templated text the ids encode. */
  text: string;
  /**
   * `[ids.length, 13 · hidden]` f32 on the GPU, taps fastest (spec §3); the
   * caller releases it. Recorded, not yet waited for: `await features.toF32()`
   * reads it.
   */
  features: Tensor;
}

/** How {@link PromptEncoder.load} builds the encoder. */
export interface PromptEncoderOptions {
  /** Default: the registered platform. */
  platform?: Platform;
  /** Text encoder activations (default f32: Qwen3 has outlier channels f16 cannot hold). */
  activations?: ActDType;
}

/**
 * Prompt → token ids → text features, on its own (e.g. for embedding research).
 *
 * @example
 * ```ts
 * import { createGpu, PromptEncoder } from "@ideogram4/webgpu";
 *
 * const ctx = await createGpu();
 * const enc = await PromptEncoder.load(ctx, "/models/ideogram-4-nf4");
 * const { ids, features } = enc.encode("a lighthouse at dusk");
 * console.log(ids.length, features.shape, (await features.toF32()).slice(0, 4));
 * features.release();
 * enc.release();
 * ```
 */
export class PromptEncoder {
  private constructor(readonly tokenizer: Qwen3Tokenizer, readonly encoder: Qwen3TextEncoder) {}

  /** Loads `dir/tokenizer` and `dir/text_encoder` of a checkpoint folder. */
  static async load(
    ctx: GpuContext,
    dir: string,
    opts: PromptEncoderOptions = {},
  ): Promise<PromptEncoder> {
    const p = opts.platform ?? currentPlatform();
    const tokenizer = await loadTokenizer(p.join(dir, "tokenizer"), p);
    const encoder = await Qwen3TextEncoder.load(ctx, p.join(dir, "text_encoder"), {
      platform: p,
      activations: opts.activations,
    });
    return new PromptEncoder(tokenizer, encoder);
  }

  /** Ids and features of one prompt (plain text or a JSON caption string). */
  encode(prompt: string): PromptFeatures {
    const { ids, text } = this.tokenizer.encodePrompt(prompt);
    return { ids, text, features: this.encoder.encodeFeatures(ids) };
  }

  /** Frees the encoder's GPU weights (wait for pending work first: `await ctx.sync()`). */
  release(): void {
    this.encoder.release();
  }
}
