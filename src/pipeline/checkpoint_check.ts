/**
 * Checks a checkpoint folder against the architecture without running
 * anything: every tensor name, dtype and shape of the text encoder's language
 * model, both DiTs and the VAE decoder, the folder layout, the configs, the
 * tokenizer, and that the components fit together. Returns the problems as
 * messages naming the file and the tensor. (The memory planner, `memory_plan.ts`,
 * runs the models themselves over the same {@link ShapeOnlyStore}.)
 *
 * The rules are the loaders' own: the same `load*HostWeights` functions the
 * models use run over a {@link ShapeOnlyStore}, which answers from the
 * safetensors headers and hands out zeros instead of tensor data. The only
 * data read are the nf4 quant-state JSONs (a few hundred bytes each, where
 * an nf4 weight's shape is recorded), so a 5 GB shard costs its header.
 *
 * Loaders stop at their first error, so a component reports one problem —
 * except the DiTs, checked block by block (one problem per bad block).
 */
import { Checkpoint } from "../io/checkpoint.ts";
import { NF4_STATE_SUFFIX } from "../io/linear_loader.ts";
import { decodeF32, numelOf, type TensorInfo, type TensorStore } from "../io/tensor_store.ts";
import {
  type DiTConfig,
  type DiTDeclared,
  parseDiTConfig,
  resolveDiTConfig,
} from "../models/dit_config.ts";
import {
  findDiTPrefix,
  inferDiTShapes,
  loadDiTHostGlobals,
  loadDiTHostLayer,
} from "../models/dit_weights.ts";
import { parseQwen3Config, QWEN3_TAP_LAYERS, type Qwen3Config } from "../models/qwen3_config.ts";
import { loadQwen3HostWeights } from "../models/qwen3_weights.ts";
import { type VaeDecoderConfig, vaeScaleFactor } from "../models/vae_config.ts";
import { VAE_WEIGHTS_STEM } from "../models/vae_decoder.ts";
import { loadVaeDecoderWeights, vaeConfigFor } from "../models/vae_weights.ts";
import { platform as currentPlatform } from "../platform/mod.ts";
import type { Platform } from "../platform/types.ts";
import { loadTokenizer } from "../text/load.ts";
import type { Qwen3Tokenizer } from "../text/tokenizer.ts";
import { TOKEN_CHANNELS } from "../models/ops/unpatchify.ts";
import { COMPONENT_FOLDERS, missingComponentFiles } from "../io/model_folders.ts";

/** Problems listed per component before the rest is summarised. */
export const MAX_PROBLEMS_PER_COMPONENT = 8;

/**
 * A {@link TensorStore} view that answers names, dtypes and shapes from the
 * headers and returns zeros of the right size for tensor data, so the
 * loaders' checks run without reading the weights. nf4 quant states (JSON
 * bytes that hold the weight's shape) are the exception: they are read.
 */
export class ShapeOnlyStore implements TensorStore {
  /** Shared zeros behind every view handed out (grown, never written). */
  private zeros = new ArrayBuffer(0);
  /** nf4 quant states read so far (the planner loads a model several times). */
  private states = new Map<string, Promise<Uint8Array>>();

  constructor(readonly inner: TensorStore) {}

  get name(): string {
    return this.inner.name;
  }

  names(): string[] {
    return this.inner.names();
  }

  has(name: string): boolean {
    return this.inner.has(name);
  }

  info(name: string): TensorInfo {
    return this.inner.info(name);
  }

  bytes(name: string): Promise<Uint8Array> {
    try {
      const info = this.inner.info(name);
      if (name.endsWith(NF4_STATE_SUFFIX)) {
        let state = this.states.get(name);
        if (!state) this.states.set(name, state = this.inner.bytes(name));
        return state;
      }
      return Promise.resolve(new Uint8Array(this.zeroBuffer(info.byteLength), 0, info.byteLength));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  f32(name: string): Promise<Float32Array> {
    try {
      const info = this.inner.info(name);
      if (info.dtype !== "F32" && info.dtype !== "F16" && info.dtype !== "BF16") {
        decodeF32(info, new Uint8Array(0)); // throws the loaders' own dtype error
      }
      const n = numelOf(info.shape);
      return Promise.resolve(new Float32Array(this.zeroBuffer(4 * n), 0, n));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  close(): void {
    this.inner.close();
  }

  private zeroBuffer(bytes: number): ArrayBuffer {
    // Untouched zero pages cost no memory on the usual hosts.
    if (this.zeros.byteLength < bytes) this.zeros = new ArrayBuffer(bytes);
    return this.zeros;
  }
}

/** One component's check: its problems, and its config when it was read. */
export interface ComponentCheck<C> {
  /** The component's folder. */
  folder: string;
  /** Empty when the component is usable. */
  problems: string[];
  /** The configuration, when it could be read. */
  config?: C;
}

/** What {@link checkCheckpoint} found. */
export interface CheckpointCheck {
  /** The checkpoint folder. */
  dir: string;
  /** Empty when the checkpoint is usable. */
  problems: string[];
  /** Tokens of the prompt (chat template applied), when one was given. */
  promptTokens?: number;
}

/** Options of {@link checkCheckpoint}. */
export interface CheckOptions {
  /** Default: the registered platform. */
  platform?: Platform;
  /** Count this prompt's tokens with the checkpoint's tokenizer. Too long throws `PromptTooLongError`. */
  prompt?: string;
}

const message = (e: unknown) => e instanceof Error ? e.message : String(e);

/** Keeps the first {@link MAX_PROBLEMS_PER_COMPONENT} problems and counts the rest. */
function capped(folder: string, problems: string[]): string[] {
  if (problems.length <= MAX_PROBLEMS_PER_COMPONENT) return problems;
  const more = problems.length - MAX_PROBLEMS_PER_COMPONENT;
  return [
    ...problems.slice(0, MAX_PROBLEMS_PER_COMPONENT),
    `${folder}: … and ${more} more problem${more === 1 ? "" : "s"} like these`,
  ];
}

/** Runs `fn` with the folder's checkpoint opened shape-only; errors become problems. */
async function withStore<C>(
  p: Platform,
  folder: string,
  stem: string,
  fn: (store: ShapeOnlyStore, check: ComponentCheck<C>) => Promise<void>,
): Promise<ComponentCheck<C>> {
  const check: ComponentCheck<C> = { folder, problems: [] };
  let store: ShapeOnlyStore | undefined;
  try {
    store = new ShapeOnlyStore(await Checkpoint.open(folder, { stem, platform: p }));
    await fn(store, check);
  } catch (e) {
    check.problems.push(message(e));
  } finally {
    store?.close();
  }
  check.problems = capped(folder, check.problems);
  return check;
}

/** `text_encoder/`: config, then the language model's embedding and layers 0 … last tap. */
export async function checkTextEncoder(
  folder: string,
  p: Platform,
): Promise<ComponentCheck<Qwen3Config>> {
  const configPath = p.join(folder, "config.json");
  let config: Qwen3Config;
  try {
    config = parseQwen3Config(await p.readText(configPath), configPath);
  } catch (e) {
    return { folder, problems: [message(e)] };
  }
  return await withStore(p, folder, "model", async (store, check) => {
    await loadQwen3HostWeights(store, config);
    check.config = config;
  });
}

/**
 * A DiT folder (`transformer/` or `unconditional_transformer/`): optional
 * `config.json` checked against the sizes the weights reveal, then the
 * globals (without the text projection when `text` is false, as the pipeline
 * loads the unconditional one) and every block.
 */
export async function checkDiT(
  folder: string,
  text: boolean,
  p: Platform,
): Promise<ComponentCheck<DiTConfig>> {
  const configPath = p.join(folder, "config.json");
  let declared: DiTDeclared = {};
  let configFile = "config.json";
  try {
    if (await p.exists(configPath)) {
      declared = parseDiTConfig(await p.readText(configPath), configPath);
      configFile = configPath;
    }
  } catch (e) {
    return { folder, problems: [message(e)] };
  }
  return await withStore(p, folder, "diffusion_pytorch_model", async (store, check) => {
    const prefix = findDiTPrefix(store);
    const config = resolveDiTConfig(declared, await inferDiTShapes(store, prefix), configFile);
    check.config = config;
    try {
      await loadDiTHostGlobals(store, config, prefix, { text });
    } catch (e) {
      check.problems.push(message(e));
    }
    for (let i = 0; i < config.numLayers; i++) {
      try {
        await loadDiTHostLayer(store, config, prefix, i);
      } catch (e) {
        check.problems.push(message(e));
      }
    }
  });
}

/** `vae/`: sizes from the shapes, optional `config.json` checked against them, every decoder tensor. */
export async function checkVae(
  folder: string,
  p: Platform,
): Promise<ComponentCheck<VaeDecoderConfig>> {
  const configPath = p.join(folder, "config.json");
  let configText: string | undefined;
  try {
    if (await p.exists(configPath)) configText = await p.readText(configPath);
  } catch (e) {
    return { folder, problems: [message(e)] };
  }
  return await withStore(p, folder, VAE_WEIGHTS_STEM, async (store, check) => {
    const config = vaeConfigFor(store, configText, configPath);
    await loadVaeDecoderWeights(store, config);
    check.config = config;
  });
}

/** Sizes the components must agree on (the pipeline's constants and each other's). */
function crossChecks(
  dir: string,
  te: Qwen3Config | undefined,
  cond: DiTConfig | undefined,
  uncond: DiTConfig | undefined,
  vae: VaeDecoderConfig | undefined,
): string[] {
  const problems: string[] = [];
  if (te && cond) {
    const want = QWEN3_TAP_LAYERS.length * te.hiddenSize;
    if (cond.llmFeaturesDim !== want) {
      problems.push(
        `${dir}: transformer/ takes ${cond.llmFeaturesDim} text features per token, but the ` +
          `text encoder gives ${QWEN3_TAP_LAYERS.length} taps × hidden ${te.hiddenSize} = ${want}`,
      );
    }
  }
  for (const [name, c] of [["transformer", cond], ["unconditional_transformer", uncond]] as const) {
    if (c && c.inChannels !== TOKEN_CHANNELS) {
      problems.push(
        `${dir}: ${name}/ has in_channels ${c.inChannels}; the pipeline's latent tokens have ` +
          `${TOKEN_CHANNELS} (32 VAE channels × 2×2 patch)`,
      );
    }
  }
  if (vae && (4 * vae.latentChannels !== TOKEN_CHANNELS || vaeScaleFactor(vae) !== 8)) {
    problems.push(
      `${dir}: vae/ has ${vae.latentChannels} latent channels and scale ${vaeScaleFactor(vae)}; ` +
        `the pipeline needs 32 and 8 (2×2 patches of 16×16 pixels)`,
    );
  }
  return problems;
}

/**
 * Checks the checkpoint folder `dir` in the published layout (spec §1).
 * Never throws for a bad checkpoint (every problem is in the result); throws
 * `PromptTooLongError` when `opts.prompt` is over the token limit.
 */
export async function checkCheckpoint(
  dir: string,
  opts: CheckOptions = {},
): Promise<CheckpointCheck> {
  const p = opts.platform ?? currentPlatform();
  const problems: string[] = [];
  const present = new Set<string>(COMPONENT_FOLDERS);
  for (const file of await missingComponentFiles(p, dir)) {
    present.delete(file.slice(0, file.indexOf("/")));
    problems.push(`${dir}: missing ${file} (not an Ideogram 4 checkpoint folder?)`);
  }
  let promptTokens: number | undefined;
  let tokenizer: Qwen3Tokenizer | undefined;
  if (present.has("tokenizer")) {
    try {
      tokenizer = await loadTokenizer(p.join(dir, "tokenizer"), p);
    } catch (e) {
      problems.push(message(e));
    }
    if (tokenizer && opts.prompt !== undefined) {
      promptTokens = tokenizer.encodePrompt(opts.prompt).ids.length;
    }
  }
  const folder = (name: string) => p.join(dir, name);
  const te = present.has("text_encoder")
    ? await checkTextEncoder(folder("text_encoder"), p)
    : undefined;
  const cond = present.has("transformer")
    ? await checkDiT(folder("transformer"), true, p)
    : undefined;
  const uncond = present.has("unconditional_transformer")
    ? await checkDiT(folder("unconditional_transformer"), false, p)
    : undefined;
  const vae = present.has("vae") ? await checkVae(folder("vae"), p) : undefined;
  for (const c of [te, cond, uncond, vae]) if (c) problems.push(...c.problems);
  if (tokenizer && te?.config && tokenizer.vocabSize > te.config.vocabSize) {
    problems.push(
      `${dir}: text_encoder/'s word-embedding table has ${te.config.vocabSize} rows, but the ` +
        `tokenizer's ids go up to ${tokenizer.vocabSize - 1}: the tokenizer and the text ` +
        "encoder are from different models",
    );
  }
  problems.push(...crossChecks(dir, te?.config, cond?.config, uncond?.config, vae?.config));
  return { dir, problems, promptTokens };
}
