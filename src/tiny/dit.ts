/**
 * A tiny random Ideogram 4 DiT checkpoint for tests (this file's tests and
 * the pipeline's): `config.json` (reference field names) +
 * `diffusion_pytorch_model.safetensors` or a sharded index, in any weight
 * format of spec §2. 3 blocks, 2 heads of 32, MRoPE sections (8, 4, 4) so all
 * three axes own frequencies (axis 1: 1, 4, 7, 10; axis 2: 2, 5, 8, 11; the
 * rest axis 0), 128 latent channels (the real latent format) and text
 * features of 13 × the tiny Qwen3's hidden size, so the tiny encoder feeds it.
 *
 * In the fp8 format, as in the released one, only Linears with a
 * `weight_scale` are fp8: here the time embedding and the final layer stay
 * dense bf16, so the loader's per-Linear detection is exercised.
 */
import { denseTensor } from "../io/quantize.ts";
import type { TensorMap } from "../io/safetensors_writer.ts";
import { type DiTConfig, ditConfigJson } from "../models/dit_config.ts";
import { ditTensorLayout } from "../models/dit_layout.ts";
import { TOKEN_CHANNELS } from "../models/ops/unpatchify.ts";
import { randn } from "./random.ts";
import { TINY_QWEN3, type TinyFormat, tinyLinear } from "./qwen3.ts";

export type { TinyFormat };

export const TINY_DIT: Readonly<DiTConfig> = {
  embDim: 64,
  numLayers: 3,
  numHeads: 2,
  headDim: 32,
  intermediateSize: 96,
  adanlnDim: 16,
  inChannels: TOKEN_CHANNELS,
  llmFeaturesDim: 13 * TINY_QWEN3.hidden,
  ropeTheta: 5_000_000,
  mropeSection: [8, 4, 4],
  // Not the released 1e-5: large enough that a block norm ignoring it would show.
  normEps: 0.05,
};

export interface TinyDitOptions {
  format: TinyFormat;
  seed?: number;
  /** Write a sharded checkpoint (index + this many shards, `true` = 3) instead of one file. */
  sharded?: boolean | number;
  /**
   * `config.json` to write: `"full"` (default, every field), `"rope"` (only
   * `rope_theta`, `mrope_section`, `norm_eps`: sizes must be inferred from shapes), or
   * `"none"`.
   */
  config?: "full" | "rope" | "none";
  /** Key prefix of every tensor (default none, as released). */
  prefix?: string;
  /** Overrides of the tiny dimensions (e.g. `{ numLayers: 2 }`). */
  dims?: Partial<DiTConfig>;
}

/** The tiny config with `dims` applied (`headDim` follows embDim / numHeads). */
export function tinyDitConfig(dims: Partial<DiTConfig> = {}): DiTConfig {
  const c = { ...TINY_DIT, ...dims };
  return { ...c, headDim: c.embDim / c.numHeads };
}

/** Linears left dense (bf16) in the fp8 format. */
const FP8_DENSE = /^(t_embedding\.|final_layer\.)/;

/** All tensors of a tiny checkpoint. */
export function tinyDitTensors(opts: TinyDitOptions): TensorMap {
  const c = tinyDitConfig(opts.dims), p = opts.prefix ?? "";
  let seed = (opts.seed ?? 1) * 1000;
  const smallDtype = opts.format === "f32" ? "F32" : "BF16";
  const tensors: TensorMap = {};
  const small = (name: string, values: Float32Array, shape: number[]) => {
    tensors[p + name] = denseTensor(values, shape, smallDtype);
  };
  // Norm weights near 1, never all equal (a wrong weight must show).
  const norm = (name: string, n: number) =>
    small(name, randn(n, seed++, 0.2).map((x) => 1 + x), [n]);
  const linear = (module: string, out: number, inF: number, bias: boolean) => {
    const name = `${p}${module}.weight`;
    const v = randn(out * inF, seed++, 1 / Math.sqrt(inF));
    if (opts.format === "fp8" && FP8_DENSE.test(module)) {
      tensors[name] = denseTensor(v, [out, inF], "BF16");
    } else {
      Object.assign(tensors, tinyLinear(opts.format, name, v, [out, inF]));
    }
    if (bias) small(`${module}.bias`, randn(out, seed++, 0.2), [out]);
  };
  for (const x of ditTensorLayout(c)) {
    if (x.kind === "linear") linear(x.module, x.out, x.in, x.bias);
    else if (x.kind === "norm") norm(x.name, x.n);
    else small(x.name, randn(x.shape[0] * x.shape[1], seed++, 0.5), x.shape);
  }
  return tensors;
}

/** The `config.json` object a tiny checkpoint carries (`undefined` for `"none"`). */
export function tinyDitConfigJson(
  opts: Pick<TinyDitOptions, "config" | "dims">,
): Record<string, unknown> | undefined {
  const full = ditConfigJson(tinyDitConfig(opts.dims));
  switch (opts.config ?? "full") {
    case "full":
      return { _class_name: "Ideogram4Transformer", ...full };
    case "rope":
      return {
        rope_theta: full.rope_theta,
        mrope_section: full.mrope_section,
        norm_eps: full.norm_eps,
      };
    case "none":
      return undefined;
  }
}
