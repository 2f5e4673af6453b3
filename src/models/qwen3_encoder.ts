/**
 * The Qwen3-VL text encoder (language model only) on WebGPU, producing
 * Ideogram 4's text features (spec §3): the hidden states after decoder
 * layers 0, 3, …, 33, 35 (no final norm), interleaved per token as
 * `[L, 13 * hidden]` f32 with feature index `h * 13 + tap`.
 *
 * The embedding table (151936 × 4096 for the real model) stays on the host:
 * only the prompt's rows are decoded and uploaded. The decoder weights are
 * uploaded in their stored format (dense / nf4 / fp8, decoded inside the
 * GEMM) and freed by {@link Qwen3TextEncoder.release}, so the 8B encoder need
 * not stay resident beside the DiTs. One forward records every dispatch
 * without a readback; the features stay on the GPU for the DiT.
 * CPU reference: `qwen3_encoder_ref.ts`.
 */
import type { GpuContext } from "../gpu/context.ts";
import { Tensor } from "../gpu/tensor.ts";
import { Checkpoint } from "../io/checkpoint.ts";
import type { TensorStore } from "../io/tensor_store.ts";
import { attention } from "../ops/attention.ts";
import type { ActDType } from "../ops/common.ts";
import { binary } from "../ops/elementwise.ts";
import { gatherRowsHost } from "../ops/embedding.ts";
import { interleaveInto } from "../ops/interleave.ts";
import { linear, type LinearGpuFormat, type LinearWeight, uploadLinear } from "../ops/linear.ts";
import { rmsNorm } from "../ops/norm.ts";
import { type GpuRopeTables, rmsNormRope, ropeTables, uploadRopeTables } from "../ops/rope.ts";
import { platform as currentPlatform } from "../platform/mod.ts";
import type { Platform } from "../platform/types.ts";
import { parseQwen3Config, QWEN3_TAP_LAYERS, type Qwen3Config } from "./qwen3_config.ts";
import { mapQwen3Layer, qwen3LayerMembers, type Qwen3LayerOf } from "./qwen3_layout.ts";
import { loadQwen3HostWeights, type Qwen3HostWeights } from "./qwen3_weights.ts";

/** How {@link Qwen3TextEncoder.load} builds the encoder. */
export interface Qwen3LoadOptions {
  /**
   * Activation dtype; default f32. Qwen3's residual stream has outlier
   * channels in the thousands, so f16 (max 65504, 11-bit mantissa) is opt-in.
   */
  activations?: ActDType;
  /** Required when loading from a {@link TensorStore} instead of a folder. */
  config?: Qwen3Config;
  /**
   * bf16 parity (default true): decode fp8 and nf4 weights as the bf16
   * reference does, fp8 row scales and every decoded value rounded to bf16
   * (`torchBf16Decode`; the DiT's switch of the same name); false decodes
   * them exactly in f32.
   */
  torchBf16?: boolean;
  /** Default: the registered platform. */
  platform?: Platform;
}

/** One decoder layer's weights on the GPU. */
export type Qwen3GpuLayer = Qwen3LayerOf<LinearWeight, Tensor>;

/**
 * The Qwen3-VL text encoder (language model) on the GPU: token ids → Ideogram 4's
 * 13-tap text features. {@link PromptEncoder} pairs it with the tokenizer.
 *
 * @example
 * ```ts
 * import { createGpu, loadTokenizer, Qwen3TextEncoder } from "@ideogram4/webgpu";
 *
 * const ctx = await createGpu();
 * const tok = await loadTokenizer("/models/ideogram-4-nf4/tokenizer");
 * const enc = await Qwen3TextEncoder.load(ctx, "/models/ideogram-4-nf4/text_encoder");
 * const features = enc.encodeFeatures(tok.encodePrompt("a red fox").ids);
 * console.log(features.shape); // [tokens, 13 * hidden]
 * enc.release();
 * ```
 */
export class Qwen3TextEncoder {
  private released = false;

  private constructor(
    readonly ctx: GpuContext,
    readonly config: Qwen3Config,
    readonly activations: ActDType,
    /** Host embedding table (a view over the file when mapped). */
    private readonly embed: Qwen3HostWeights["embed"],
    private readonly layers: Qwen3GpuLayer[],
    /** The checkpoint opened by {@link load} from a folder, closed on release. */
    private readonly owned: TensorStore | undefined,
  ) {}

  /**
   * Loads the language model from a `text_encoder/` folder (`config.json` +
   * `model.safetensors` or a sharded index), or from an open store with
   * `opts.config`. Only `language_model` tensors of layers 0 … 35 and the
   * embedding are read; the vision tower is never touched.
   */
  static async load(
    ctx: GpuContext,
    source: string | TensorStore,
    opts: Qwen3LoadOptions = {},
  ): Promise<Qwen3TextEncoder> {
    let store: TensorStore, config: Qwen3Config, owned: TensorStore | undefined;
    if (typeof source === "string") {
      const p = opts.platform ?? currentPlatform();
      const configPath = p.join(source, "config.json");
      if (!await p.exists(configPath)) {
        throw new Error(`${source}: no config.json (expected a text_encoder/ folder)`);
      }
      config = opts.config ?? parseQwen3Config(await p.readText(configPath), configPath);
      store = owned = await Checkpoint.open(source, { stem: "model", platform: p });
    } else {
      if (!opts.config) {
        throw new Error(`${source.name}: loading from a tensor store needs opts.config`);
      }
      store = source;
      config = opts.config;
    }
    try {
      const host = await loadQwen3HostWeights(store, config, { torchBf16: opts.torchBf16 });
      const activations = opts.activations ?? "f32";
      if (activations === "f16" && !ctx.features.f16) {
        throw new Error("Qwen3TextEncoder: f16 activations need an adapter with shader-f16");
      }
      const layers = host.layers.map((l, i) => uploadQwen3Layer(ctx, l, `qwen3.layers.${i}`));
      return new Qwen3TextEncoder(ctx, config, activations, host.embed, layers, owned);
    } catch (e) {
      owned?.close();
      throw e;
    }
  }

  /** Bytes of the embedding table, which stays on the host (only a prompt's rows are uploaded). */
  get hostBytes(): number {
    return this.embed.bytes.byteLength;
  }

  /** Storage formats of the Linear weights on the GPU. */
  get weightFormats(): ReadonlySet<LinearGpuFormat> {
    return new Set(
      this.layers.flatMap((l) => [l.q, l.k, l.v, l.o, l.gate, l.up, l.down].map((w) => w.format)),
    );
  }

  /** Number of features per token: taps × hidden. */
  get featureDim(): number {
    return QWEN3_TAP_LAYERS.length * this.config.hiddenSize;
  }

  /**
   * The features `[L, 13 * hidden]` f32 for one prompt's token ids, on the
   * GPU. Records the whole forward without waiting; the caller releases the
   * result.
   */
  encodeFeatures(ids: Int32Array | number[]): Tensor {
    if (this.released) throw new Error("Qwen3TextEncoder: encodeFeatures() after release()");
    const { ctx, config: c } = this;
    const L = ids.length, hid = c.hiddenSize, d = c.headDim;
    if (L === 0) throw new Error("Qwen3TextEncoder: no token ids");
    const rows = gatherRowsHost(
      this.embed.bytes,
      this.embed.dtype,
      c.vocabSize,
      hid,
      ids,
      `Qwen3 embedding '${this.embed.name}'`,
    );
    return ctx.scope(() => {
      let x = Tensor.fromF32(ctx, rows, [L, hid], this.activations, "qwen3.embeddings");
      // Text only: the three MRoPE axes all carry the token index → plain 1-D RoPE.
      const positions = Int32Array.from({ length: 3 * L }, (_, i) => Math.floor(i / 3));
      const rope = uploadRopeTables(ctx, ropeTables(positions, d, c.ropeTheta, null));
      const taps = QWEN3_TAP_LAYERS.length;
      const features = Tensor.empty(ctx, [L, taps * hid], "f32", "qwen3.features");
      this.layers.forEach((w, i) => {
        x = qwen3LayerForward(ctx, c, w, x, rope);
        const tap = QWEN3_TAP_LAYERS.indexOf(i);
        if (tap >= 0) interleaveInto(ctx, features, x, tap, taps);
      });
      return features;
    });
  }

  /** Frees every GPU weight (and closes the checkpoint opened by `load`). Idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    for (const l of this.layers) {
      const { linears, norms } = qwen3LayerMembers(l);
      for (const t of [...norms, ...linears]) t.release();
    }
    this.layers.length = 0;
    this.owned?.close();
  }
}

/** Uploads one host layer (weights stay in their stored format). */
export function uploadQwen3Layer(
  ctx: GpuContext,
  l: Qwen3HostWeights["layers"][number],
  name: string,
): Qwen3GpuLayer {
  return mapQwen3Layer(
    l,
    (w, module) => uploadLinear(ctx, w, `${name}.${module}`),
    (v, module) => Tensor.upload(ctx, v, [v.length], "f32", `${name}.${module}`, true),
  );
}

/**
 * One decoder layer: `x + attn(norm(x))`, then `+ mlp(norm(·))`; returns the
 * new hidden state. Consumes `x` (released as soon as it is read last, as
 * the encoder's memory plan assumes). Records without waiting.
 */
export function qwen3LayerForward(
  ctx: GpuContext,
  c: Qwen3Config,
  w: Qwen3GpuLayer,
  x: Tensor,
  rope: GpuRopeTables,
): Tensor {
  const L = x.shape[0], d = c.headDim, eps = c.rmsNormEps, scale = 1 / Math.sqrt(d);
  // Each pipe step frees its input once its last reader is recorded (see gpu/scope.ts).
  return ctx.scope(() => {
    // x1 = x + o_proj(attention(rope(norm_q(q)), rope(norm_k(k)), v)), q, k, v of norm(x)
    const x1 = ctx.pipe(
      () => rmsNorm(ctx, x, w.inputNorm, eps),
      (n) => [linear(ctx, n, w.q), linear(ctx, n, w.k), linear(ctx, n, w.v)],
      ([q, k, v]) => [
        rmsNormRope(ctx, q, rope, { heads: c.numHeads, headDim: d }, w.qNorm, eps),
        rmsNormRope(ctx, k, rope, { heads: c.numKvHeads, headDim: d }, w.kNorm, eps),
        v,
      ],
      ([q, k, v]) => attention(ctx, q, k, v.view([L, c.numKvHeads, d]), { causal: true, scale }),
      (a) => linear(ctx, a.view([L, c.numHeads * d]), w.o),
      (o) => binary(ctx, "add", ctx.adopt(x), o),
    );
    // x1 + down(silu(gate(m)) · up(m)), m = norm(x1)
    const down = ctx.pipe(
      () => rmsNorm(ctx, x1, w.postNorm, eps),
      // silu(gate(m)) · up(m) in the up GEMM's epilogue (bit-identical to the two passes).
      (m) => linear(ctx, m, w.up, { siluGate: linear(ctx, m, w.gate) }),
      (h) => linear(ctx, h, w.down),
    );
    return binary(ctx, "add", x1, down);
  });
}
