/**
 * The Ideogram 4 DiT on WebGPU (spec §4): one velocity prediction per call,
 * for either transformer (`transformer/` conditional, `unconditional_transformer/`).
 *
 * Conditional pass: the sequence is `[Ltxt text tokens | gh·gw image tokens]`.
 * Image rows get `input_proj(latent)`, text rows `llm_cond_proj(rmsnorm(features))`,
 * each row plus its `embed_image_indicator` row; the other projection is
 * masked to zero in the reference, so each is simply computed for its own
 * rows only. Unconditional pass: image tokens only. Then the time embedding
 * and AdaLN, the blocks, and the final layer on the image rows.
 *
 * How the reference's details map here (checked in `modeling_ideogram4.py` /
 * `pipeline_ideogram4.py` at 415abf4):
 * - `input_proj` and `llm_cond_proj` have biases; the reference multiplies
 *   the projections by the token masks *after* the bias, so text rows carry
 *   no `input_proj` bias and vice versa. The indicator row is constant per
 *   role, so it is folded into the bias of the projection that owns the row
 *   (`input_proj.bias + indicator[1]`, `llm_cond_proj.bias + indicator[0]`).
 * - Block: `h += tanh(g_msa) · norm2(Attn(norm1(h) · (1 + s_msa)))`, then the
 *   same with the SwiGLU FFN `w2(silu(w1 x) · w3 x)`; norms are RMSNorm with
 *   weight (eps `norm_eps`); q/k RMSNorm per head (eps 1e-5) before RoPE;
 *   full attention (one sample, no padding), scale `1/sqrt(headDim)`.
 * - `qkv` rows split `[3][heads][headDim]`; they are uploaded as three
 *   weights (row bands, still compressed) so q, k and v come out contiguous.
 *   The AdaLN Linear's `[4][emb]` rows likewise become four weights.
 * - Final layer: `linear(layernorm(h, 1e-6, no affine) · (1 + mod(silu(a))))`
 *   where `a` is already `silu(adaln_proj(t_emb))` — silu twice.
 * - bf16 parity (`torchBf16`, default on): the reference runs in bf16, which
 *   (1) rounds `t` to bf16 before `1e4 · t` (the pipeline casts `t` to the
 *   parameter dtype; an error up to 2^-9 · 1e4 ≈ 20 rad in the highest time
 *   frequency) and (2) casts the `inv_freq` buffer to bf16 (`model.to(bf16)`,
 *   the nf4 loader's buffer cast), which at image positions ≈ 65536 moves the
 *   text↔image rotation angles by many radians, and (3) decodes quantized
 *   weights into bf16: fp8 as `fp8.to(bf16) · weight_scale.to(bf16)` (a
 *   per-row gain error of up to 0.2 %), nf4 as bitsandbytes' bf16
 *   `dequantize_4bit` (`torchBf16Decode` in host_linear.ts). All are
 *   reproduced by default; `torchBf16: false` gives the exact formulas.
 *   (The many ordinary bf16 roundings of activations are not reproduced.)
 *
 * The whole forward is recorded without a readback; weights stay compressed
 * on the GPU (decoded in the GEMMs). CPU reference: `dit_ref.ts`.
 *
 * Residency (spec §8): `"resident"` uploads every block at load;
 * `"stream"` keeps only the globals on the GPU and writes each block into
 * one of two slots during the forward (`dit_stream.ts`, `weight_slots.ts`),
 * from the memory-mapped checkpoint, which then stays open until release.
 */
import { bf16ToF32, f32ToBf16 } from "../dtype.ts";
import type { GpuContext } from "../gpu/context.ts";
import { shapeStr, Tensor } from "../gpu/tensor.ts";
import { Checkpoint } from "../io/checkpoint.ts";
import type { HostLinear } from "../formats/mod.ts";
import type { TensorStore } from "../io/tensor_store.ts";
import { attention } from "../ops/attention.ts";
import type { ActDType } from "../ops/common.ts";
import { copyRows, sliceRows } from "../ops/copy_rows.ts";
import { unary } from "../ops/elementwise.ts";
import {
  gpuFormat,
  linear,
  type LinearGpuFormat,
  type LinearWeight,
  uploadLinear,
} from "../ops/linear.ts";
import { layerNorm, rmsNorm, rmsNormGatedResidual, rmsNormModulate } from "../ops/norm.ts";
import { type GpuRopeTables, rmsNormRope, ropeTables, uploadRopeTables } from "../ops/rope.ts";
import { sinusoidEmbedding } from "./ops/timestep.ts";
import { platform as currentPlatform } from "../platform/mod.ts";
import type { Platform } from "../platform/types.ts";
import {
  DIT_FINAL_NORM_EPS,
  DIT_IMAGE_POSITION_OFFSET,
  DIT_LLM_NORM_EPS,
  DIT_QK_NORM_EPS,
  type DiTConfig,
  type DiTDeclared,
  parseDiTConfig,
  resolveDiTConfig,
} from "./dit_config.ts";
import {
  type DiTBlocks,
  type DiTGpuLayer,
  ditLayerPieces,
  mapDiTLayer,
  ResidentDiTBlocks,
} from "./dit_layer.ts";
import { StreamedDiTBlocks } from "./dit_stream.ts";
import {
  type DiTHostGlobals,
  type DiTLayerHost,
  findDiTPrefix,
  type HostAffine,
  inferDiTShapes,
  loadDiTHostGlobals,
  loadDiTHostLayer,
} from "./dit_weights.ts";

/**
 * Where the blocks' weights live: `"resident"` all on the GPU from load on;
 * `"stream"` on the host (views over the mapped checkpoint), written into two
 * GPU slots block by block during each forward.
 */
export type DiTResidency = "resident" | "stream";

/** How {@link DiT.load} builds the transformer. */
export interface DiTLoadOptions {
  /** Activation dtype; default f32. f16 needs `shader-f16` (the residual stream may overflow it). */
  activations?: ActDType;
  /**
   * Declared config values (reference field meanings, see dit_config.ts).
   * Replaces `config.json` when given; sizes are always checked against the weights.
   */
  config?: DiTDeclared;
  /**
   * Load `llm_cond_norm` / `llm_cond_proj` (default true). The pipeline runs
   * the unconditional transformer on image tokens only, so it can skip them
   * (≈ 0.1 GB in nf4); a forward with features is then an error.
   */
  textConditioning?: boolean;
  /** Reproduce the bf16 reference's `t`, rope `inv_freq` and weight-decode rounding (default true; see above). */
  torchBf16?: boolean;
  /** Label prefix of the GPU buffers (default `dit`). */
  name?: string;
  /**
   * Default `"resident"`. With `"stream"` the checkpoint stays open until
   * {@link DiT.release}: a folder opened here is closed then; a store passed
   * in must be kept open by the caller until then (a closed one is an error
   * at the next forward). The blocks' bytes are only views where the store
   * maps its files (the Deno platform's default); other stores' `bytes()`
   * copies stay in host memory. The small decoded arrays (nf4 absmax as f32,
   * fp8 scales, biases, norms; ≈ 11 % of an nf4 block) are always kept on
   * the host ({@link DiT.streamHostBytes}).
   */
  residency?: DiTResidency;
  /** With `"stream"`: largest GPU buffer of a slot (default: the device limit). For tests. */
  streamBufferBytes?: number;
  /** Default: the registered platform. */
  platform?: Platform;
}

/** One velocity evaluation's inputs. */
export interface DiTInputs {
  /** Noisy latent tokens `[gh·gw, inChannels]` (f32 or the activation dtype), row-major over the grid. */
  latents: Tensor;
  /** Text features `[Ltxt, llmFeaturesDim]` (f32 or f16); absent → unconditional pass. */
  features?: Tensor;
  /** Flow time in [0, 1]. */
  t: number;
  /** Latent grid height and width (image size / 16). */
  gh: number;
  /** Latent grid width. */
  gw: number;
}

interface GpuGlobals {
  /** Bias includes the image indicator row. */
  inputProj: LinearWeight;
  llmNorm?: Tensor;
  /** Bias includes the text indicator row. */
  llmProj?: LinearWeight;
  tIn: LinearWeight;
  tOut: LinearWeight;
  adaln: LinearWeight;
  finalLinear: LinearWeight;
  finalMod: LinearWeight;
}

/** Rope tables kept per sequence layout; the pipeline needs two (cond, uncond). */
const ROPE_CACHE_SIZE = 4;

/**
 * MRoPE positions `[Ltxt + gh·gw, 3]`: text token i → (i, i, i), image token
 * (gy, gx) → (65536, 65536 + gy, 65536 + gx), text first.
 */
export function ditPositions(ltxt: number, gh: number, gw: number): Int32Array {
  const pos = new Int32Array(3 * (ltxt + gh * gw));
  for (let i = 0; i < ltxt; i++) pos.fill(i, 3 * i, 3 * i + 3);
  const o = DIT_IMAGE_POSITION_OFFSET;
  for (let gy = 0; gy < gh; gy++) {
    for (let gx = 0; gx < gw; gx++) {
      pos.set([o, o + gy, o + gx], 3 * (ltxt + gy * gw + gx));
    }
  }
  return pos;
}

/**
 * The time embedding's input `sinusoid(1e4 · t, dim)`; with `torchBf16`, `t`
 * is first rounded to f32 then bf16 and the product to f32, as the reference
 * pipeline does.
 */
export function ditTimeInput(t: number, dim: number, torchBf16: boolean): Float32Array {
  if (!(t >= 0 && t <= 1)) throw new Error(`DiT: t = ${t} is outside [0, 1]`);
  const s = torchBf16 ? Math.fround(1e4 * bf16ToF32(f32ToBf16(Math.fround(t)))) : 1e4 * t;
  return sinusoidEmbedding(s, dim);
}

/**
 * The Ideogram 4 diffusion transformer on the GPU (dense, nf4 or fp8 weights,
 * resident or streamed): one `forward` is one velocity evaluation.
 *
 * @example One unconditional velocity evaluation on random latents
 * ```ts
 * import { createGpu, DiT, gaussianNoise, Tensor } from "@ideogram4/webgpu";
 *
 * const ctx = await createGpu();
 * const dir = "/models/ideogram-4-nf4/unconditional_transformer";
 * const dit = await DiT.load(ctx, dir, { textConditioning: false });
 * const [gh, gw] = [32, 32]; // a 512 × 512 image
 * const noise = gaussianNoise(1n, gh * gw * 128);
 * const latents = Tensor.fromF32(ctx, noise, [gh * gw, 128]);
 * const v = dit.forward(ctx, { latents, t: 0.5, gh, gw });
 * console.log(await v.toF32());
 * dit.release();
 * ```
 */
export class DiT {
  private released = false;
  private readonly ropeCache = new Map<string, GpuRopeTables>();

  private constructor(
    readonly ctx: GpuContext,
    readonly config: DiTConfig,
    readonly activations: ActDType,
    readonly torchBf16: boolean,
    /** Whether the text-conditioning weights were loaded. */
    readonly textConditioning: boolean,
    /** Storage formats of the Linear weights (e.g. nf4 plus a dense bf16 or two). */
    readonly weightFormats: ReadonlySet<LinearGpuFormat>,
    readonly residency: DiTResidency,
    private readonly globals: GpuGlobals,
    private readonly blocks: DiTBlocks,
    private readonly name: string,
    /** The checkpoint a streaming DiT reads its blocks from, when it opened it. */
    private readonly ownedStore?: TensorStore,
  ) {}

  /**
   * Loads a `transformer/` or `unconditional_transformer/` folder
   * (`diffusion_pytorch_model.safetensors` or its sharded index, optional
   * `config.json`), or an open store. Resident: layers are read and
   * uploaded one at a time, so host memory holds one block's decoded scales
   * at most; a folder opened here is closed before returning (nothing on
   * the host is kept). Stream: see {@link DiTLoadOptions.residency}.
   */
  static async load(
    ctx: GpuContext,
    source: string | TensorStore,
    opts: DiTLoadOptions = {},
  ): Promise<DiT> {
    const activations = opts.activations ?? "f32";
    const residency = opts.residency ?? "resident";
    if (residency !== "resident" && residency !== "stream") {
      throw new Error(`DiT: residency ${JSON.stringify(residency)} is not "resident" or "stream"`);
    }
    if (activations === "f16" && !ctx.features.f16) {
      throw new Error("DiT: f16 activations need an adapter with shader-f16");
    }
    let store: TensorStore, owned: TensorStore | undefined;
    let declared: DiTDeclared = opts.config ?? {};
    let configFile = opts.config ? "DiTLoadOptions.config" : "config.json";
    if (typeof source === "string") {
      const p = opts.platform ?? currentPlatform();
      const configPath = p.join(source, "config.json");
      if (!opts.config && await p.exists(configPath)) {
        declared = parseDiTConfig(await p.readText(configPath), configPath);
        configFile = configPath;
      }
      store = owned = await Checkpoint.open(source, {
        stem: "diffusion_pytorch_model",
        platform: p,
      });
    } else {
      store = source;
    }
    const name = opts.name ?? "dit";
    const uploaded: (LinearWeight | Tensor)[] = [];
    let blocks: DiTBlocks | undefined;
    let keepOpen = false;
    try {
      const prefix = findDiTPrefix(store);
      const config = resolveDiTConfig(declared, await inferDiTShapes(store, prefix), configFile);
      const text = opts.textConditioning ?? true;
      const formats = new Set<LinearGpuFormat>();
      const up = new Uploader(ctx, uploaded, formats);
      const torchBf16 = opts.torchBf16 ?? true;
      const host = await loadDiTHostGlobals(store, config, prefix, { text, torchBf16 });
      const globals = uploadGlobals(up, host, name);
      if (residency === "stream") {
        const hostLayers: DiTLayerHost[] = [];
        for (let i = 0; i < config.numLayers; i++) {
          hostLayers.push(await loadDiTHostLayer(store, config, prefix, i, { torchBf16 }));
        }
        blocks = StreamedDiTBlocks.build(ctx, hostLayers, {
          name,
          maxBufferBytes: opts.streamBufferBytes,
        });
        for (const l of hostLayers) {
          for (const w of [l.qkv, l.o, l.w1, l.w2, l.w3, l.mod.w]) {
            formats.add(gpuFormat(w));
          }
        }
      } else {
        const layers: DiTGpuLayer[] = [];
        for (let i = 0; i < config.numLayers; i++) {
          const l = await loadDiTHostLayer(store, config, prefix, i, { torchBf16 });
          layers.push(uploadLayer(up, l, `${name}.layers.${i}`));
        }
        blocks = new ResidentDiTBlocks(layers);
      }
      keepOpen = residency === "stream";
      return new DiT(
        ctx,
        config,
        activations,
        torchBf16,
        text,
        formats,
        residency,
        globals,
        blocks,
        name,
        keepOpen ? owned : undefined,
      );
    } catch (e) {
      for (const u of uploaded) u.release();
      blocks?.release();
      throw e;
    } finally {
      if (!keepOpen) owned?.close();
    }
  }

  /**
   * GPU bytes this DiT holds while it lives: every weight when resident; the
   * globals plus the two block slots when streaming. (Rope tables and
   * activations come on top.)
   */
  get residentBytes(): number {
    let n = 0;
    const g = this.globals;
    for (const w of [g.inputProj, g.llmProj, g.tIn, g.tOut, g.adaln, g.finalLinear, g.finalMod]) {
      n += w?.byteSize ?? 0;
    }
    n += g.llmNorm?.byteSize ?? 0;
    return n + this.blocks.gpuBytes;
  }

  /** Same as {@link residentBytes}. */
  get byteSize(): number {
    return this.residentBytes;
  }

  /**
   * Bytes written from the host to the GPU per forward once running: all
   * blocks when streaming (0 when resident, or when the blocks fit in the slots).
   */
  get streamBytesPerForward(): number {
    return this.blocks.streamBytesPerForward;
  }

  /** Bytes written into the block slots since load (0 when resident). */
  get bytesStreamed(): number {
    return this.blocks instanceof StreamedDiTBlocks ? this.blocks.bytesStreamed : 0;
  }

  /** Bytes of the largest block as laid out in a streaming slot (0 when resident). */
  get streamSlotBytes(): number {
    const b = this.blocks;
    if (!(b instanceof StreamedDiTBlocks)) return 0;
    let n = 0;
    for (let i = 0; i < b.count; i++) n = Math.max(n, b.blockBytes(i));
    return n;
  }

  /** Host bytes kept decoded for streaming (nf4 absmax tables, scales, norms; 0 when resident). */
  get streamHostBytes(): number {
    return this.blocks instanceof StreamedDiTBlocks ? this.blocks.hostBytes : 0;
  }

  /**
   * The velocity `[gh·gw, inChannels]` f32 for the image tokens. With
   * `features` this is the conditional pass over `[text | image]`, without
   * it the unconditional pass over the image tokens. Records every dispatch
   * without waiting; the caller releases the result (inputs are not consumed).
   */
  forward(ctx: GpuContext, inputs: DiTInputs): Tensor {
    if (this.released) throw new Error(`DiT '${this.name}': forward() after release()`);
    if (ctx !== this.ctx) {
      throw new Error(`DiT '${this.name}': forward() on another GPU context than its weights'`);
    }
    const c = this.config, g = this.globals, act = this.activations;
    const { latents, features, t, gh, gw } = inputs;
    if (!Number.isSafeInteger(gh) || !Number.isSafeInteger(gw) || gh < 1 || gw < 1) {
      throw new Error(`DiT: grid ${gh}×${gw} is not positive integers`);
    }
    const limg = gh * gw;
    checkInput(latents, [limg, c.inChannels], `latents (grid ${gh}×${gw})`);
    let ltxt = 0;
    if (features) {
      if (!g.llmProj || !g.llmNorm) {
        throw new Error(
          `DiT '${this.name}': features given, but it was loaded with textConditioning: false`,
        );
      }
      ltxt = features.shape[0];
      checkInput(features, [ltxt, c.llmFeaturesDim], "features");
      if (ltxt < 1 || ltxt > DIT_IMAGE_POSITION_OFFSET) {
        throw new Error(
          `DiT: ${ltxt} text tokens; positions must stay below ${DIT_IMAGE_POSITION_OFFSET}`,
        );
      }
    }
    const L = ltxt + limg, e = c.embDim;
    // Uploads first, so none lands between dispatches (which would force a submit).
    const tIn = Tensor.fromF32(ctx, ditTimeInput(t, e, this.torchBf16), [1, e], act, "dit.t");
    const rope = this.ropeFor(ltxt, gh, gw);
    const heads = { heads: c.numHeads, headDim: c.headDim };
    const scale = 1 / Math.sqrt(c.headDim), eps = c.normEps;
    // Each pipe step frees its input once its last reader is recorded (see gpu/scope.ts).
    return ctx.scope(() => {
      // Time embedding and AdaLN input a = silu(adaln_proj(mlp_out(silu(mlp_in(sinusoid))))).
      const a = ctx.pipe(
        () => ctx.adopt(tIn),
        (x) => linear(ctx, x, g.tIn),
        (x) => unary(ctx, "silu", x),
        (x) => linear(ctx, x, g.tOut),
        (x) => linear(ctx, x, g.adaln),
        (x) => unary(ctx, "silu", x),
      );

      // The sequence h = [c_txt | x_img] (+ indicator rows, folded into the biases).
      let h = ctx.scope(() => {
        const xImg = linear(ctx, latents, g.inputProj);
        if (ltxt === 0 && xImg.dtype === act) return xImg;
        const seq = Tensor.empty(ctx, [L, e], act, `${this.name}.h`);
        if (features) {
          const cTxt = ctx.pipe(
            () => rmsNorm(ctx, features, g.llmNorm, DIT_LLM_NORM_EPS),
            (n) => linear(ctx, n, g.llmProj!),
          );
          copyRows(ctx, cTxt, 0, seq, 0, ltxt);
        }
        copyRows(ctx, xImg, 0, seq, ltxt, limg);
        return seq;
      });

      const blocks = this.blocks;
      blocks.begin();
      for (let i = 0; i < blocks.count; i++) {
        const w = blocks.layer(i);
        const hIn = h;
        h = ctx.scope(() => {
          const [sMsa, gMsa, sMlp, gMlp] = w.mod.map((m) => linear(ctx, a, m));
          // h1 = h + tanh(g_msa) · norm2(Attn(norm1(h) · (1 + s_msa)))
          const h1 = ctx.pipe(
            () => rmsNormModulate(ctx, hIn, w.attnNorm1, sMsa, eps),
            (n1) => [linear(ctx, n1, w.q), linear(ctx, n1, w.k), linear(ctx, n1, w.v)],
            ([q, k, v]) => [
              rmsNormRope(ctx, q, rope, heads, w.normQ, DIT_QK_NORM_EPS),
              rmsNormRope(ctx, k, rope, heads, w.normK, DIT_QK_NORM_EPS),
              v,
            ],
            ([q, k, v]) => attention(ctx, q, k, v.view([L, c.numHeads, c.headDim]), { scale }),
            (att) => linear(ctx, att.view([L, e]), w.o),
            (o) => rmsNormGatedResidual(ctx, ctx.adopt(hIn), o, w.attnNorm2, gMsa, eps),
          );
          // h1 + tanh(g_mlp) · norm2(w2(silu(w1 x) · w3 x)), x = norm1(h1) · (1 + s_mlp)
          const f = ctx.pipe(
            () => rmsNormModulate(ctx, h1, w.ffnNorm1, sMlp, eps),
            (n2) => [n2, linear(ctx, n2, w.w1)],
            // silu(w1 x) · w3 x in w3's GEMM (its epilogue): one pass and one [L, ffn] tensor fewer
            ([n2, gate]) => linear(ctx, n2, w.w3, { siluGate: gate }),
            (gu) => linear(ctx, gu, w.w2),
          );
          return rmsNormGatedResidual(ctx, h1, f, w.ffnNorm2, gMlp, eps);
        });
        blocks.done(i);
      }

      // Final layer on the image rows: linear(layernorm(h) * (1 + mod(silu(a)))).
      const fm = ctx.pipe(
        () => unary(ctx, "silu", ctx.adopt(a)),
        (sa) => linear(ctx, sa, g.finalMod),
      );
      const hOut = h;
      return ctx.pipe(
        () => ltxt > 0 ? sliceRows(ctx, ctx.adopt(hOut), ltxt, limg) : ctx.adopt(hOut),
        (hImg) => layerNorm(ctx, hImg, DIT_FINAL_NORM_EPS, ctx.adopt(fm)),
        (nf) => linear(ctx, nf, g.finalLinear),
        (out) =>
          out.dtype === "f32" ? out : sliceRows(ctx, out, 0, limg, "f32", `${this.name}.velocity`),
      );
    });
  }

  /** Rope tables for one sequence layout, cached (the few most recent layouts). */
  private ropeFor(ltxt: number, gh: number, gw: number): GpuRopeTables {
    const key = `${ltxt}:${gh}:${gw}`;
    let tables = this.ropeCache.get(key);
    if (tables) {
      this.ropeCache.delete(key); // re-insert: most recently used last
    } else {
      const c = this.config;
      // Cached across forwards: kept out of the forward's scope.
      tables = this.ctx.keep(uploadRopeTables(
        this.ctx,
        ropeTables(ditPositions(ltxt, gh, gw), c.headDim, c.ropeTheta, c.mropeSection, {
          torchBf16: this.torchBf16,
        }),
      ));
      if (this.ropeCache.size >= ROPE_CACHE_SIZE) {
        const [oldKey, old] = this.ropeCache.entries().next().value!;
        this.ropeCache.delete(oldKey);
        old.release();
      }
    }
    this.ropeCache.set(key, tables);
    return tables;
  }

  /** Number of cached rope layouts (for tests). */
  get ropeCacheSize(): number {
    return this.ropeCache.size;
  }

  /**
   * Frees every GPU weight and cached table, and closes the checkpoint a
   * streaming DiT opened. Idempotent.
   */
  release(): void {
    if (this.released) return;
    this.released = true;
    const g = this.globals;
    for (const w of [g.inputProj, g.llmProj, g.tIn, g.tOut, g.adaln, g.finalLinear, g.finalMod]) {
      w?.release();
    }
    g.llmNorm?.release();
    this.blocks.release();
    for (const r of this.ropeCache.values()) r.release();
    this.ropeCache.clear();
    this.ownedStore?.close();
  }
}

function checkInput(t: Tensor, shape: number[], what: string): void {
  if (t.shape.length !== 2 || t.shape[0] !== shape[0] || t.shape[1] !== shape[1]) {
    throw new Error(
      `DiT: ${what} '${t.label}' is ${shapeStr(t.shape)}; expected ${shapeStr(shape)}`,
    );
  }
  if (t.dtype !== "f32" && t.dtype !== "f16") {
    throw new Error(`DiT: ${what} '${t.label}' is ${t.dtype}; expected f32 or f16`);
  }
}

/** Uploads while remembering what was uploaded (freed if loading fails). */
class Uploader {
  constructor(
    readonly ctx: GpuContext,
    private readonly done: (LinearWeight | Tensor)[],
    private readonly formats: Set<LinearGpuFormat>,
  ) {}

  linear(w: HostLinear, label: string, bias?: Float32Array): LinearWeight {
    const u = uploadLinear(this.ctx, w, label, { bias });
    this.done.push(u);
    this.formats.add(u.format);
    return u;
  }

  vector(v: Float32Array, label: string): Tensor {
    const t = Tensor.upload(this.ctx, v, [v.length], "f32", label, true);
    this.done.push(t);
    return t;
  }
}

/** `bias + row` of the `[2, emb]` indicator table (folded into a projection's bias). */
function withIndicator(a: HostAffine, indicator: Float32Array, row: number): Float32Array {
  const n = a.bias.length;
  return a.bias.map((b, i) => b + indicator[row * n + i]);
}

function uploadGlobals(up: Uploader, h: DiTHostGlobals, name: string): GpuGlobals {
  return {
    inputProj: up.linear(
      h.inputProj.w,
      `${name}.input_proj`,
      withIndicator(h.inputProj, h.indicator, 1),
    ),
    llmNorm: h.llmNorm && up.vector(h.llmNorm, `${name}.llm_cond_norm`),
    llmProj: h.llmProj &&
      up.linear(h.llmProj.w, `${name}.llm_cond_proj`, withIndicator(h.llmProj, h.indicator, 0)),
    tIn: up.linear(h.tIn.w, `${name}.t_embedding.mlp_in`, h.tIn.bias),
    tOut: up.linear(h.tOut.w, `${name}.t_embedding.mlp_out`, h.tOut.bias),
    adaln: up.linear(h.adaln.w, `${name}.adaln_proj`, h.adaln.bias),
    finalLinear: up.linear(h.finalLinear.w, `${name}.final_layer.linear`, h.finalLinear.bias),
    finalMod: up.linear(h.finalMod.w, `${name}.final_layer.adaln_modulation`, h.finalMod.bias),
  };
}

function uploadLayer(up: Uploader, l: DiTLayerHost, name: string): DiTGpuLayer {
  return mapDiTLayer(
    ditLayerPieces(l, name),
    (p) => up.linear(p.w, p.label, p.bias),
    (p) => up.vector(p.v, p.label),
  );
}
