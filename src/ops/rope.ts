/**
 * Rotary position embedding ("rotate half": dimension i pairs with i + D/2),
 * with the MRoPE tables of Qwen3-VL and the Ideogram 4 DiT.
 *
 * The cos/sin tables are computed here on the CPU in float64 and uploaded as
 * f32: image tokens sit at positions 65536 + grid index, where an f32 angle
 * (ulp 2^-7 at 65536) would be off by up to ~4e-3 rad, and a GPU `cos` of
 * such an argument loses more. The kernel (`shaders/rope.wgsl`) only
 * multiplies by table entries, optionally after a per-head RMSNorm (q/k norm).
 * CPU reference: `rope_ref.ts`.
 *
 * MRoPE axis rule, checked against the reference code (`Ideogram4MRoPE` in
 * `modeling_ideogram4.py`, and transformers' Qwen3-VL `apply_interleaved_mrope`):
 * frequencies start from axis 0 (temporal / text index); then for axis 1 the
 * indices 1, 4, 7, … below `3 * sections[1]`, and for axis 2 the indices
 * 2, 5, 8, … below `3 * sections[2]`, take that axis' position instead. So
 * frequency k uses axis 1 iff `k % 3 == 1 && k < 3*sections[1]`, axis 2 iff
 * `k % 3 == 2 && k < 3*sections[2]`, else axis 0 (`sections[0]` is unused).
 * `inv_freq[k] = theta^(-2k/D)`, and the D/2 angles repeat for both halves
 * (`emb = cat(freqs, freqs)`), so a `[tokens, D/2]` table serves both.
 * Text-only Qwen3-VL gives all three axes the token index, so its tables equal
 * plain 1-D RoPE (`sections` null) — the tests check both constructions agree.
 *
 * Precision note: the PyTorch reference, when the DiT is loaded in bf16 (its
 * default), also casts the `inv_freq` buffer to bf16 (`model.to(dtype)` and
 * the nf4 loader cast buffers), then forms angles in f32 — relative
 * frequency errors up to 2^-9. `{ torchBf16: true }` reproduces that rounding
 * for parity checks against it; the default is the exact (f64) angle.
 */
import ropeWgsl from "../../shaders/rope.wgsl" with { type: "text" };
import { bf16ToF32, f32ToBf16 } from "../dtype.ts";
import { type GpuContext, grid } from "../gpu/context.ts";
import { declareKernel } from "../gpu/declare_kernel.ts";
import { shapeStr, Tensor } from "../gpu/tensor.ts";
import { type ActDType, actType, assertActivation } from "./common.ts";

const ROPE = /* @__PURE__ */ declareKernel({
  name: "rope",
  source: ropeWgsl,
  params: {
    tokens: "u32",
    heads: "u32",
    half: "u32", // D / 2
    src_stride: "u32", // elements from one token to the next in x
    src_offset: "u32", // element of token 0, head 0 in x
    eps: "f32",
  },
  entries: {
    main: {
      x: "read array<act_t>",
      w: "read array<f32>", // [D], read only when NORM
      cos_t: "read array<f32>", // [tokens, D/2]
      sin_t: "read array<f32>", // [tokens, D/2]
      out: "read_write array<act_t>",
    },
  },
  workgroupSize: 64,
  variant: (v: { act_t: ActDType; norm: boolean }) => ({
    aliases: { act_t: v.act_t },
    consts: { NORM: v.norm },
  }),
});

/** MRoPE sections `(t, h, w)` in frequencies; the real models use (24, 20, 20). */
export type MropeSections = readonly [number, number, number];

/** cos/sin of the rotation angles, `[tokens, headDim / 2]` row-major. */
export interface RopeTables {
  tokens: number;
  half: number;
  cos: Float32Array;
  sin: Float32Array;
}

export interface RopeTableOptions {
  /**
   * Mimic the PyTorch reference run in bf16: `inv_freq` computed in f32,
   * rounded to bf16, angle `pos * inv_freq` rounded to f32. Default false
   * (exact f64 angles).
   */
  torchBf16?: boolean;
}

/** Which position axis (0, 1, 2) frequency `k` rotates by; `sections` null → always 0. */
export function ropeAxis(k: number, sections: MropeSections | null): 0 | 1 | 2 {
  if (!sections) return 0;
  if (k % 3 === 1 && k < 3 * sections[1]) return 1;
  if (k % 3 === 2 && k < 3 * sections[2]) return 2;
  return 0;
}

/** `theta^(-2k/D)` for `k < D/2`, exact or rounded like the bf16 reference. */
function inverseFrequencies(headDim: number, theta: number, torchBf16: boolean): Float64Array {
  const inv = new Float64Array(headDim / 2);
  for (let k = 0; k < inv.length; k++) {
    if (!torchBf16) {
      inv[k] = Math.pow(theta, (-2 * k) / headDim);
    } else {
      const f = Math.fround;
      inv[k] = bf16ToF32(f32ToBf16(f(1 / f(Math.pow(theta, f((2 * k) / headDim))))));
    }
  }
  return inv;
}

/**
 * RoPE tables for `positions` (`[tokens, 3]` int: one position per MRoPE
 * axis; text tokens repeat their index three times). `sections` null gives
 * plain 1-D RoPE on axis 0.
 */
export function ropeTables(
  positions: Int32Array,
  headDim: number,
  theta: number,
  sections: MropeSections | null,
  opts: RopeTableOptions = {},
): RopeTables {
  if (!Number.isInteger(headDim) || headDim <= 0 || headDim % 2 !== 0) {
    throw new Error(`ropeTables: head dim ${headDim} must be a positive even integer`);
  }
  if (positions.length % 3 !== 0) {
    throw new Error(`ropeTables: ${positions.length} positions are not [tokens, 3]`);
  }
  const tokens = positions.length / 3, half = headDim / 2;
  // The last index taken from axis 1 is 3*s1 - 2, from axis 2 it is 3*s2 - 1.
  if (sections && (3 * sections[1] - 2 >= half || 3 * sections[2] - 1 >= half)) {
    throw new Error(`ropeTables: sections (${sections.join(", ")}) exceed ${half} frequencies`);
  }
  const torchBf16 = opts.torchBf16 ?? false;
  const inv = inverseFrequencies(headDim, theta, torchBf16);
  const axes = Array.from({ length: half }, (_, k) => ropeAxis(k, sections));
  const cos = new Float32Array(tokens * half), sin = new Float32Array(tokens * half);
  for (let t = 0; t < tokens; t++) {
    for (let k = 0; k < half; k++) {
      let angle = positions[3 * t + axes[k]] * inv[k];
      if (torchBf16) angle = Math.fround(angle);
      cos[t * half + k] = Math.cos(angle);
      sin[t * half + k] = Math.sin(angle);
    }
  }
  return { tokens, half, cos, sin };
}

/** RoPE tables on the GPU (f32). Release both tensors with {@link GpuRopeTables.release}. */
export interface GpuRopeTables {
  tokens: number;
  half: number;
  cos: Tensor;
  sin: Tensor;
  release(): void;
}

export function uploadRopeTables(ctx: GpuContext, t: RopeTables): GpuRopeTables {
  const cos = Tensor.upload(ctx, t.cos, [t.tokens, t.half], "f32", "rope.cos");
  const sin = Tensor.upload(ctx, t.sin, [t.tokens, t.half], "f32", "rope.sin");
  return {
    tokens: t.tokens,
    half: t.half,
    cos,
    sin,
    release() {
      cos.release();
      sin.release();
    },
  };
}

/**
 * Where the heads of each token sit in the source tensor. Token `t`, head `h`
 * starts at element `offset + t * rowStride + h * headDim`. Examples: a
 * contiguous `[L, H, D]` (defaults); q / k inside the DiT's packed qkv row
 * `[L, 3 * H * D]`: `rowStride = 3 * H * D`, `offset = 0` / `H * D`.
 */
export interface HeadLayout {
  heads: number;
  headDim: number;
  /** Elements from one token to the next; default `heads * headDim`. */
  rowStride?: number;
  /** Element of token 0, head 0; default 0. */
  offset?: number;
}

function ropeRows(
  ctx: GpuContext,
  op: string,
  x: Tensor,
  tables: GpuRopeTables,
  layout: HeadLayout,
  norm?: { weight: Tensor; eps: number },
): Tensor {
  assertActivation(x, op);
  const { heads, headDim } = layout;
  const rowStride = layout.rowStride ?? heads * headDim;
  const offset = layout.offset ?? 0;
  const tokens = tables.tokens;
  if (headDim !== 2 * tables.half) {
    throw new Error(`${op}: head dim ${headDim} but the tables are for ${2 * tables.half}`);
  }
  const needed = offset + (tokens - 1) * rowStride + heads * headDim;
  if (rowStride < heads * headDim || needed > x.numel) {
    throw new Error(
      `${op}: '${x.label}' ${
        shapeStr(x.shape)
      } does not hold ${tokens} tokens × ${heads} heads × ` +
        `${headDim} at offset ${offset}, token stride ${rowStride} (needs ${needed} elements)`,
    );
  }
  if (norm && (norm.weight.dtype !== "f32" || norm.weight.numel !== headDim)) {
    throw new Error(
      `${op}: weight '${norm.weight.label}' is ${
        shapeStr(norm.weight.shape)
      } ${norm.weight.dtype}; expected [${headDim}] f32`,
    );
  }
  const out = Tensor.empty(ctx, [tokens, heads, headDim], x.dtype, op);
  ROPE.dispatch(ctx, {
    variant: { act_t: actType(x.dtype), norm: !!norm },
    params: {
      tokens,
      heads,
      half: tables.half,
      src_stride: rowStride,
      src_offset: offset,
      eps: norm?.eps ?? 0,
    },
    bindings: {
      x: x.binding,
      w: (norm?.weight ?? tables.cos).binding,
      cos_t: tables.cos.binding,
      sin_t: tables.sin.binding,
      out: out.binding,
    },
    workgroups: grid(ctx, tokens * heads),
  });
  return out;
}

/** Rotates every head of every token; output is contiguous `[tokens, heads, headDim]`. */
export function rope(
  ctx: GpuContext,
  x: Tensor,
  tables: GpuRopeTables,
  layout: HeadLayout,
): Tensor {
  return ropeRows(ctx, "rope", x, tables, layout);
}

/**
 * Per-head RMSNorm (`weight` f32 `[headDim]`, eps inside the sqrt) then
 * RoPE, in one pass: the q_norm/k_norm + rotary step of both the DiT and
 * Qwen3. Output is contiguous `[tokens, heads, headDim]`.
 */
export function rmsNormRope(
  ctx: GpuContext,
  x: Tensor,
  tables: GpuRopeTables,
  layout: HeadLayout,
  weight: Tensor,
  eps: number,
): Tensor {
  return ropeRows(ctx, "rmsNormRope", x, tables, layout, { weight, eps });
}
