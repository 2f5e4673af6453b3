/**
 * One DiT block as the GPU model holds it (spec §4), and the two ways its
 * weights reach the GPU: all blocks uploaded at load ({@link ResidentDiTBlocks})
 * or written into reusable slots during each forward (`dit_stream.ts`).
 *
 * Both start from the same named pieces ({@link ditLayerPieces}): the fused
 * `qkv` is split into q / k / v row bands and the AdaLN Linear into its four
 * chunks (still compressed, views over the host bytes), so each GEMM writes
 * its own contiguous output. Each residency then maps the pieces to GPU
 * tensors its own way ({@link mapDiTLayer}), so the forward cannot tell them
 * apart.
 */
import type { Tensor } from "../gpu/tensor.ts";
import { type HostLinear, sliceHostLinearRows } from "../formats/mod.ts";
import type { LinearWeight } from "../ops/linear.ts";
import type { DiTLayerHost } from "./dit_weights.ts";

/** A block's weights: Linears as `W`, norm weights as `V`. */
export interface DiTLayerOf<W, V> {
  q: W;
  k: W;
  v: W;
  o: W;
  normQ: V;
  normK: V;
  w1: W;
  w2: W;
  w3: W;
  attnNorm1: V;
  attnNorm2: V;
  ffnNorm1: V;
  ffnNorm2: V;
  /** scale_msa, gate_msa, scale_mlp, gate_mlp. */
  mod: [W, W, W, W];
}

/** A block on the GPU, as the forward uses it. */
export type DiTGpuLayer = DiTLayerOf<LinearWeight, Tensor>;

/** A host Linear with the label its GPU weight gets (and its bias, if any). */
export interface NamedLinear {
  w: HostLinear;
  label: string;
  bias?: Float32Array;
}

/** A host norm weight (f32) with the label its GPU tensor gets. */
export interface NamedVector {
  v: Float32Array;
  label: string;
}

export type DiTLayerPieces = DiTLayerOf<NamedLinear, NamedVector>;

/** The weights of host block `l` as the GPU model keeps them, labelled `<name>.<module>`. */
export function ditLayerPieces(l: DiTLayerHost, name: string): DiTLayerPieces {
  const bands = (w: HostLinear, label: string, parts: string[], bias?: Float32Array) => {
    const rows = w.out / parts.length;
    return parts.map((part, i): NamedLinear => ({
      w: sliceHostLinearRows(w, i * rows, rows, `${label} (${part})`),
      label: `${label}.${part}`,
      bias: bias?.subarray(i * rows, (i + 1) * rows),
    }));
  };
  const lin = (w: HostLinear, module: string): NamedLinear => ({ w, label: `${name}.${module}` });
  const vec = (v: Float32Array, module: string): NamedVector => ({ v, label: `${name}.${module}` });
  const [q, k, v] = bands(l.qkv, `${name}.attention.qkv`, ["q", "k", "v"]);
  const mod = bands(
    l.mod.w,
    `${name}.adaln_modulation`,
    ["scale_msa", "gate_msa", "scale_mlp", "gate_mlp"],
    l.mod.bias,
  );
  return {
    q,
    k,
    v,
    o: lin(l.o, "attention.o"),
    normQ: vec(l.normQ, "attention.norm_q"),
    normK: vec(l.normK, "attention.norm_k"),
    w1: lin(l.w1, "feed_forward.w1"),
    w2: lin(l.w2, "feed_forward.w2"),
    w3: lin(l.w3, "feed_forward.w3"),
    attnNorm1: vec(l.attnNorm1, "attention_norm1"),
    attnNorm2: vec(l.attnNorm2, "attention_norm2"),
    ffnNorm1: vec(l.ffnNorm1, "ffn_norm1"),
    ffnNorm2: vec(l.ffnNorm2, "ffn_norm2"),
    mod: mod as DiTLayerPieces["mod"],
  };
}

/** The same block with every Linear mapped by `lin` and every norm weight by `vec` (in field order). */
export function mapDiTLayer<W, V, W2, V2>(
  l: DiTLayerOf<W, V>,
  lin: (w: W) => W2,
  vec: (v: V) => V2,
): DiTLayerOf<W2, V2> {
  return {
    q: lin(l.q),
    k: lin(l.k),
    v: lin(l.v),
    o: lin(l.o),
    normQ: vec(l.normQ),
    normK: vec(l.normK),
    w1: lin(l.w1),
    w2: lin(l.w2),
    w3: lin(l.w3),
    attnNorm1: vec(l.attnNorm1),
    attnNorm2: vec(l.attnNorm2),
    ffnNorm1: vec(l.ffnNorm1),
    ffnNorm2: vec(l.ffnNorm2),
    mod: l.mod.map(lin) as DiTLayerOf<W2, V2>["mod"],
  };
}

/** Every Linear and every norm weight of a block. */
export function layerMembers<W, V>(l: DiTLayerOf<W, V>): { linears: W[]; vectors: V[] } {
  return {
    linears: [l.q, l.k, l.v, l.o, l.w1, l.w2, l.w3, ...l.mod],
    vectors: [l.normQ, l.normK, l.attnNorm1, l.attnNorm2, l.ffnNorm1, l.ffnNorm2],
  };
}

/**
 * The blocks of a DiT on the GPU. The forward brackets each block's
 * commands with {@link layer} and {@link done}, so a streaming
 * implementation knows when a block's weights must be in place and when the
 * commands reading them have all been recorded.
 */
export interface DiTBlocks {
  readonly count: number;
  /** GPU bytes held for the blocks (every block, or the slots). */
  readonly gpuBytes: number;
  /** Bytes written to the GPU per forward once running (0 when resident). */
  readonly streamBytesPerForward: number;
  /** Called once per forward, before its first dispatch. */
  begin(): void;
  /** Block `i`, its weights in place for the commands recorded from now on. */
  layer(i: number): DiTGpuLayer;
  /** Every command reading block `i`'s weights is recorded. */
  done(i: number): void;
  release(): void;
}

/** Every block uploaded once, at load. */
export class ResidentDiTBlocks implements DiTBlocks {
  constructor(private readonly layers: DiTGpuLayer[]) {}

  get count(): number {
    return this.layers.length;
  }

  get gpuBytes(): number {
    let n = 0;
    for (const l of this.layers) {
      const { linears, vectors } = layerMembers(l);
      for (const w of linears) n += w.byteSize;
      for (const t of vectors) n += t.byteSize;
    }
    return n;
  }

  get streamBytesPerForward(): number {
    return 0;
  }

  begin(): void {}

  layer(i: number): DiTGpuLayer {
    return this.layers[i];
  }

  done(_i: number): void {}

  release(): void {
    for (const l of this.layers) {
      const { linears, vectors } = layerMembers(l);
      for (const w of linears) w.release();
      for (const t of vectors) t.release();
    }
    this.layers.length = 0;
  }
}
