/**
 * The bf16 reference's fp8 decode, written independently of the runtime's
 * (`Fp8HostLinear.torchBf16`): PyTorch computes `weight.to(bf16) *
 * weight_scale.to(bf16)` in bf16, so each value is
 * `bf16(fp8 · bf16(scale))`. Tests turn every raw fp8 weight of a host
 * weight tree (loaded with `torchBf16: false`) into the dense f32 weight the
 * reference multiplies with, and run the CPU references on that.
 */
import { bf16ToF32, f32ToBf16, fp8e4m3ToF32 } from "../../src/dtype.ts";
import type { DenseHostLinear, HostLinear } from "../../src/io/host_linear.ts";

const bf16 = (v: number) => bf16ToF32(f32ToBf16(Math.fround(v)));

/** One raw fp8 weight as the reference's dense bf16 values (stored as f32). */
export function fp8AsTorchDense(w: HostLinear): HostLinear {
  if (w.format !== "fp8") return w;
  if (w.torchBf16) throw new Error("fp8AsTorchDense: load the weight with torchBf16: false");
  const values = new Float32Array(w.out * w.in);
  for (let r = 0; r < w.out; r++) {
    const s = bf16(w.scale[r]);
    for (let c = 0; c < w.in; c++) {
      values[r * w.in + c] = bf16(fp8e4m3ToF32(w.bytes[r * w.in + c]) * s);
    }
  }
  const dense: DenseHostLinear = {
    format: "dense",
    dtype: "f32",
    out: w.out,
    in: w.in,
    bytes: new Uint8Array(values.buffer),
  };
  return dense;
}

/** A copy of a host weight tree with every fp8 Linear replaced by {@link fp8AsTorchDense}. */
export function withTorchFp8<T>(tree: T): T {
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v === null || typeof v !== "object" || ArrayBuffer.isView(v)) return v;
    const o = v as Record<string, unknown>;
    if (o.format === "fp8" && o.scale instanceof Float32Array) {
      return fp8AsTorchDense(o as unknown as HostLinear);
    }
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, walk(x)]));
  };
  return walk(tree) as T;
}
