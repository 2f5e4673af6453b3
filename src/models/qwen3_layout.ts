/**
 * The weight tree of the Qwen3 language model (transformers' key names under
 * the language model's prefix): the embedding, the final norm and each
 * decoder layer's tensors, declared once as data, in checkpoint order: the
 * loader (`qwen3_weights.ts`), the GPU upload and release
 * (`qwen3_encoder.ts`), the tiny writer (`tiny/qwen3.ts`) and the random and
 * sparse checkpoint writers (`checkpoint/layout.ts`) all walk this list
 * instead of spelling the layer out again. Like `dit_layout.ts` for the DiT.
 */

/** The token embedding `[vocab, hidden]`, relative to the language model's key prefix. */
export const QWEN3_EMBED_TOKENS = "embed_tokens.weight";
/** The final norm `[hidden]` (written by checkpoints; the encoder's taps never read it). */
export const QWEN3_FINAL_NORM = "norm.weight";

/** Decoder layer `i`'s key prefix, relative to the language model's key prefix. */
export function qwen3LayerPrefix(i: number): string {
  return `layers.${i}.`;
}

/** The sizes a layer's shapes depend on. */
export interface Qwen3LayerDims {
  hidden: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  intermediate: number;
}

/** One layer's weights by field: Linears as `W`, norm weights as `V`. */
export interface Qwen3LayerOf<W, V> {
  inputNorm: V;
  q: W;
  k: W;
  v: W;
  o: W;
  qNorm: V;
  kNorm: V;
  postNorm: V;
  gate: W;
  up: W;
  down: W;
}

/** One tensor of a layer: a Linear `${module}.weight` `[out, in]` (no bias) or a norm weight `[n]`. */
export type Qwen3LayerEntry =
  | { kind: "linear"; field: Qwen3LinearField; module: string; out: number; in: number }
  | { kind: "norm"; field: Qwen3NormField; module: string; n: number };

/** The Linear fields of {@link Qwen3LayerOf}. */
export type Qwen3LinearField = "q" | "k" | "v" | "o" | "gate" | "up" | "down";
/** The norm-weight fields of {@link Qwen3LayerOf}. */
export type Qwen3NormField = "inputNorm" | "qNorm" | "kNorm" | "postNorm";

/** Field, kind and module name of each tensor of a layer, in checkpoint order. */
const MODULES: readonly (
  | readonly [Qwen3LinearField, "linear", string]
  | readonly [
    Qwen3NormField,
    "norm",
    string,
  ]
)[] = [
  ["inputNorm", "norm", "input_layernorm"],
  ["q", "linear", "self_attn.q_proj"],
  ["k", "linear", "self_attn.k_proj"],
  ["v", "linear", "self_attn.v_proj"],
  ["o", "linear", "self_attn.o_proj"],
  ["qNorm", "norm", "self_attn.q_norm"],
  ["kNorm", "norm", "self_attn.k_norm"],
  ["postNorm", "norm", "post_attention_layernorm"],
  ["gate", "linear", "mlp.gate_proj"],
  ["up", "linear", "mlp.up_proj"],
  ["down", "linear", "mlp.down_proj"],
];

/** The tensors of one decoder layer, in checkpoint order (names relative to `layers.N.`). */
export function qwen3LayerLayout(d: Qwen3LayerDims): Qwen3LayerEntry[] {
  const q = d.heads * d.headDim, kv = d.kvHeads * d.headDim;
  const linearShapes: Record<Qwen3LinearField, [number, number]> = {
    q: [q, d.hidden],
    k: [kv, d.hidden],
    v: [kv, d.hidden],
    o: [d.hidden, q],
    gate: [d.intermediate, d.hidden],
    up: [d.intermediate, d.hidden],
    down: [d.hidden, d.intermediate],
  };
  const normSizes: Record<Qwen3NormField, number> = {
    inputNorm: d.hidden,
    qNorm: d.headDim,
    kNorm: d.headDim,
    postNorm: d.hidden,
  };
  return MODULES.map(([field, kind, module]): Qwen3LayerEntry =>
    kind === "linear"
      ? {
        kind,
        field: field as Qwen3LinearField,
        module,
        out: linearShapes[field as Qwen3LinearField][0],
        in: linearShapes[field as Qwen3LinearField][1],
      }
      : { kind, field: field as Qwen3NormField, module, n: normSizes[field as Qwen3NormField] }
  );
}

/**
 * Builds a layer by calling `lin` / `norm` on each entry in checkpoint order
 * (awaiting each, so loads run one at a time).
 */
export async function buildQwen3Layer<W, V>(
  d: Qwen3LayerDims,
  lin: (e: Extract<Qwen3LayerEntry, { kind: "linear" }>) => W | Promise<W>,
  norm: (e: Extract<Qwen3LayerEntry, { kind: "norm" }>) => V | Promise<V>,
): Promise<Qwen3LayerOf<W, V>> {
  const out: Partial<Record<keyof Qwen3LayerOf<W, V>, W | V>> = {};
  for (const e of qwen3LayerLayout(d)) {
    out[e.field] = e.kind === "linear" ? await lin(e) : await norm(e);
  }
  return out as Qwen3LayerOf<W, V>;
}

/** The same layer with every Linear mapped by `lin` and every norm weight by `norm`, with their module names. */
export function mapQwen3Layer<W, V, W2, V2>(
  l: Qwen3LayerOf<W, V>,
  lin: (w: W, module: string) => W2,
  norm: (v: V, module: string) => V2,
): Qwen3LayerOf<W2, V2> {
  const out: Partial<Record<keyof Qwen3LayerOf<W, V>, W2 | V2>> = {};
  for (const [field, kind, module] of MODULES) {
    out[field] = kind === "linear"
      ? lin(l[field as Qwen3LinearField], module)
      : norm(l[field as Qwen3NormField], module);
  }
  return out as Qwen3LayerOf<W2, V2>;
}

/** Every Linear and every norm weight of a layer (release, byte counts). */
export function qwen3LayerMembers<W, V>(l: Qwen3LayerOf<W, V>): { linears: W[]; norms: V[] } {
  return {
    linears: [l.q, l.k, l.v, l.o, l.gate, l.up, l.down],
    norms: [l.inputNorm, l.qNorm, l.kNorm, l.postNorm],
  };
}
