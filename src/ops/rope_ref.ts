/**
 * CPU references for `rope.ts`, in f64 arithmetic.
 *
 * `ropeTablesRef` builds the MRoPE angles the way the reference code does —
 * every frequency from axis 0, then overwrite the strided index ranges
 * `offset, offset + 3, … < 3 * sections[axis]` for axes 1 and 2 — rather
 * than through the per-k rule `ropeAxis` uses, so the two check each other.
 */
import type { HeadLayout, MropeSections, RopeTables } from "./rope.ts";

export function ropeTablesRef(
  positions: Int32Array,
  headDim: number,
  theta: number,
  sections: MropeSections | null,
): RopeTables {
  const tokens = positions.length / 3, half = headDim / 2;
  const cos = new Float32Array(tokens * half), sin = new Float32Array(tokens * half);
  for (let t = 0; t < tokens; t++) {
    const angle = (axis: number, k: number) =>
      positions[3 * t + axis] / Math.pow(theta, (2 * k) / headDim);
    const angles = Array.from({ length: half }, (_, k) => angle(0, k));
    if (sections) {
      for (const axis of [1, 2]) {
        for (let k = axis; k < 3 * sections[axis]; k += 3) angles[k] = angle(axis, k);
      }
    }
    angles.forEach((a, k) => {
      cos[t * half + k] = Math.cos(a);
      sin[t * half + k] = Math.sin(a);
    });
  }
  return { tokens, half, cos, sin };
}

/**
 * `x * cos + rotate_half(x) * sin` per head (after an optional per-head
 * RMSNorm), reading heads through `layout`; output contiguous `[L, H, D]`.
 */
export function ropeRef(
  x: Float32Array,
  tables: RopeTables,
  layout: HeadLayout,
  norm?: { weight: Float32Array; eps: number },
): Float32Array {
  const { heads, headDim } = layout, half = headDim / 2;
  const rowStride = layout.rowStride ?? heads * headDim, offset = layout.offset ?? 0;
  const out = new Float32Array(tables.tokens * heads * headDim);
  for (let t = 0; t < tables.tokens; t++) {
    for (let h = 0; h < heads; h++) {
      const src = offset + t * rowStride + h * headDim, dst = (t * heads + h) * headDim;
      const v = Array.from(x.subarray(src, src + headDim));
      if (norm) {
        const inv = 1 / Math.sqrt(v.reduce((s, a) => s + a * a, 0) / headDim + norm.eps);
        v.forEach((a, i) => v[i] = a * inv * norm.weight[i]);
      }
      // rotate_half(v) = [-v[half:], v[:half]]; cos/sin repeat for both halves.
      const rot = [...v.slice(half).map((a) => -a), ...v.slice(0, half)];
      for (let i = 0; i < headDim; i++) {
        const k = t * half + (i % half);
        out[dst + i] = v[i] * tables.cos[k] + rot[i] * tables.sin[k];
      }
    }
  }
  return out;
}
