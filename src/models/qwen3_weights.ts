/**
 * The Qwen3-VL language model's weights on the host, as stored (spec §2),
 * for the layers Ideogram 4 needs (0 … last tap). Shared by the GPU encoder
 * (which uploads them) and the CPU reference (which dequantizes them).
 *
 * Only `<prefix>embed_tokens.weight` and `<prefix>layers.N.*` are read, with
 * the prefix found from the embedding's key: transformers' Qwen3-VL saves
 * `model.language_model.`, older exports `language_model.` (or
 * `language_model.model.`), a plain Qwen3 `model.`. The vision tower
 * (`visual.*`) and `lm_head` are never touched.
 */
import type { HostLinear } from "../formats/mod.ts";
import { type LinearLoadOptions, loadHostLinear, loadHostTensorF32 } from "../io/linear_loader.ts";
import type { TensorStore } from "../io/tensor_store.ts";
import type { HostTableDType } from "../ops/embedding.ts";
import { QWEN3_TAP_LAYERS, type Qwen3Config } from "./qwen3_config.ts";
import {
  buildQwen3Layer,
  QWEN3_EMBED_TOKENS,
  type Qwen3LayerDims,
  type Qwen3LayerOf,
  qwen3LayerPrefix,
} from "./qwen3_layout.ts";

/** Key prefixes of the language model, most specific first. */
export const QWEN3_PREFIXES = [
  "model.language_model.",
  "language_model.model.",
  "language_model.",
  "model.",
  "",
] as const;

export type Qwen3LayerHost = Qwen3LayerOf<HostLinear, Float32Array>;

export interface Qwen3HostWeights {
  config: Qwen3Config;
  /** The key prefix found, e.g. `model.language_model.`. */
  prefix: string;
  /** `[vocab, hidden]` embedding table, raw bytes (a view over the file when mapped). */
  embed: { bytes: Uint8Array; dtype: HostTableDType; name: string };
  /** Layers 0 … last tap. */
  layers: Qwen3LayerHost[];
}

/** Finds the language model's key prefix from where `embed_tokens.weight` is. */
export function findQwen3Prefix(store: TensorStore): string {
  for (const p of QWEN3_PREFIXES) {
    if (store.has(p + QWEN3_EMBED_TOKENS)) return p;
  }
  throw new Error(
    `${store.name}: no language-model embedding found (looked for ` +
      `${QWEN3_PREFIXES.map((p) => `'${p}${QWEN3_EMBED_TOKENS}'`).join(", ")})`,
  );
}

/** Number of decoder layers the features need (last tap + 1). */
export function layersNeeded(): number {
  return QWEN3_TAP_LAYERS[QWEN3_TAP_LAYERS.length - 1] + 1;
}

const EMBED_DTYPES: Record<string, HostTableDType> = { F32: "f32", F16: "f16", BF16: "bf16" };

/** Loads the embedding table and layers 0 … last tap, checking every shape. */
export interface Qwen3WeightOptions {
  /**
   * Decode fp8 / nf4 weights as the bf16 reference does (`torchBf16Decode`;
   * default true, like the DiT's `torchBf16`).
   */
  torchBf16?: boolean;
}

export async function loadQwen3HostWeights(
  store: TensorStore,
  config: Qwen3Config,
  opts: Qwen3WeightOptions = {},
): Promise<Qwen3HostWeights> {
  const lo = { torchBf16: opts.torchBf16 ?? true };
  const prefix = findQwen3Prefix(store);
  const hid = config.hiddenSize;

  const embedName = prefix + QWEN3_EMBED_TOKENS;
  const embedInfo = store.info(embedName);
  const embedDtype = EMBED_DTYPES[embedInfo.dtype];
  if (!embedDtype) {
    throw new Error(
      `${embedInfo.file}: tensor '${embedName}' is ${embedInfo.dtype}; expected F32/F16/BF16`,
    );
  }
  const es = embedInfo.shape;
  if (es.length !== 2 || es[0] !== config.vocabSize || es[1] !== hid) {
    throw new Error(
      `${embedInfo.file}: tensor '${embedName}' has shape [${es.join(", ")}], expected ` +
        `[${config.vocabSize}, ${hid}]`,
    );
  }
  const embed = { bytes: await store.bytes(embedName), dtype: embedDtype, name: embedName };

  const layers: Qwen3LayerHost[] = [];
  for (let i = 0; i < layersNeeded(); i++) {
    layers.push(await loadQwen3HostLayer(store, config, prefix, i, lo));
  }
  return { config, prefix, embed, layers };
}

/** Decoder layer `i` of the language model under `prefix`, every shape checked. */
export async function loadQwen3HostLayer(
  store: TensorStore,
  config: Qwen3Config,
  prefix: string,
  i: number,
  lo: LinearLoadOptions = {},
): Promise<Qwen3LayerHost> {
  const l = prefix + qwen3LayerPrefix(i);
  return await buildQwen3Layer(
    qwen3LayerDims(config),
    (e) => loadHostLinear(store, `${l}${e.module}.weight`, [e.out, e.in], lo),
    async (e) => (await loadHostTensorF32(store, `${l}${e.module}.weight`, [e.n])).data,
  );
}

/** The layer sizes of a config, as {@link qwen3LayerLayout} takes them. */
export function qwen3LayerDims(c: Qwen3Config): Qwen3LayerDims {
  return {
    hidden: c.hiddenSize,
    heads: c.numHeads,
    kvHeads: c.numKvHeads,
    headDim: c.headDim,
    intermediate: c.intermediateSize,
  };
}
