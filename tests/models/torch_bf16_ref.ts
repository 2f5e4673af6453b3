/**
 * The bf16 reference's weight decode, written independently of the
 * runtime's (`torchBf16` of a host weight): PyTorch runs in bf16, so
 *
 * - fp8: `weight.to(bf16) * weight_scale.to(bf16)` is `bf16(fp8 · bf16(scale))`;
 * - nf4: bitsandbytes' `dequantize_4bit` writes bf16: `bf16(code · absmax)`,
 *   the absmax f32 (nested absmax resolved in f32 as the loader does).
 *
 * Tests turn every raw quantized weight of a host weight tree (loaded with
 * `torchBf16: false`) into the dense f32 weight the reference multiplies
 * with, and run the CPU references on that.
 */
import { bf16ToF32, f32ToBf16, fp8e4m3ToF32 } from "../../src/dtype.ts";
import type { DenseHostLinear } from "../../src/formats/dense.ts";
import type { HostLinear } from "../../src/formats/mod.ts";

const bf16 = (v: number) => bf16ToF32(f32ToBf16(Math.fround(v)));

function dense(out: number, inF: number, values: Float32Array): DenseHostLinear {
  return { format: "dense", dtype: "f32", out, in: inF, bytes: new Uint8Array(values.buffer) };
}

/** One raw fp8 or nf4 weight as the reference's dense bf16 values (stored as f32). */
export function asTorchDense(w: HostLinear): HostLinear {
  // int8 has no bf16 reference (no released checkpoint): it decodes in f32 on both sides.
  if (w.format === "dense" || w.format === "int8") return w;
  if (w.torchBf16) throw new Error("asTorchDense: load the weight with torchBf16: false");
  const values = new Float32Array(w.out * w.in);
  if (w.format === "fp8") {
    for (let r = 0; r < w.out; r++) {
      const s = bf16(w.scale[r]);
      for (let c = 0; c < w.in; c++) {
        values[r * w.in + c] = bf16(fp8e4m3ToF32(w.bytes[r * w.in + c]) * s);
      }
    }
  } else {
    for (let i = 0; i < values.length; i++) {
      const byte = w.packed[i >> 1], code = i % 2 === 0 ? byte >> 4 : byte & 15;
      values[i] = bf16(w.quantMap[code] * w.absmax[Math.floor(i / w.blocksize)]);
    }
  }
  return dense(w.out, w.in, values);
}

/** A copy of a host weight tree with every fp8 / nf4 Linear replaced by {@link asTorchDense}. */
export function withTorchBf16Weights<T>(tree: T): T {
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v === null || typeof v !== "object" || ArrayBuffer.isView(v)) return v;
    const o = v as Record<string, unknown>;
    const quantized = (o.format === "fp8" && o.scale instanceof Float32Array) ||
      (o.format === "nf4" && o.packed instanceof Uint8Array);
    if (quantized) return asTorchDense(o as unknown as HostLinear);
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, walk(x)]));
  };
  return walk(tree) as T;
}
