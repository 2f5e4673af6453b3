/**
 * The non-finite check (`shaders/nonfinite.wgsl`): adds the number of NaN and
 * ±Inf values of a tensor to one u32 counter slot, on the GPU and without a
 * wait. The pipeline runs it on the text features, the latents after every
 * step and the decoded image, and reads the counters back with the step's
 * progress readback, so a broken weight or an overflowing setting stops the
 * run at the stage where it shows instead of giving a black image. CPU
 * reference: `nonfinite_ref.ts`.
 */
import nonfiniteWgsl from "../../shaders/nonfinite.wgsl" with { type: "text" };
import type { GpuContext } from "../gpu/context.ts";
import { declareKernel } from "../gpu/declare_kernel.ts";
import { shapeStr, Tensor } from "../gpu/tensor.ts";

const NONFINITE = /* @__PURE__ */ declareKernel({
  name: "nonfinite",
  source: nonfiniteWgsl,
  params: {
    count: "u32", // values (not words) in the tensor
    words: "u32", // 32-bit words holding them
    slot: "u32", // index of the counter to add to
  },
  entries: {
    main: { x: "read array<u32>", counters: "read_write array<atomic<u32>>" },
  },
  workgroupSize: 256,
  // HALVES: each word holds two f16 values, low half first.
  variant: (v: { halves: boolean }) => ({ consts: { HALVES: v.halves } }),
});

/** Workgroups per dispatch at most: each invocation loops over its share. */
const MAX_WORKGROUPS = 1024;

/** `count` u32 counters, zeroed (one slot per check). */
export function nonFiniteCounters(
  ctx: GpuContext,
  count: number,
  label = "non-finite counts",
): Tensor {
  return Tensor.upload(ctx, new Uint32Array(count), [count], "u32", label);
}

/**
 * `counters[slot] += number of NaN / ±Inf values in x` (x f32 or f16).
 * Recorded in the current batch; read the counters later.
 */
export function countNonFinite(ctx: GpuContext, x: Tensor, counters: Tensor, slot: number): void {
  const op = "countNonFinite";
  if (x.dtype !== "f32" && x.dtype !== "f16") {
    throw new Error(`${op}: '${x.label}' ${shapeStr(x.shape)} is ${x.dtype}; expected f32 or f16`);
  }
  if (counters.dtype !== "u32" || !Number.isInteger(slot) || slot < 0 || slot >= counters.numel) {
    throw new Error(
      `${op}: slot ${slot} of '${counters.label}' ${shapeStr(counters.shape)} ${counters.dtype}`,
    );
  }
  if (x.numel === 0) return;
  const halves = x.dtype === "f16";
  const words = halves ? Math.ceil(x.numel / 2) : x.numel;
  NONFINITE.dispatch(ctx, {
    variant: { halves },
    params: { count: x.numel, words, slot },
    bindings: { x: x.binding, counters: counters.binding },
    workgroups: [Math.min(MAX_WORKGROUPS, Math.ceil(words / NONFINITE.workgroupSize))],
  });
}
