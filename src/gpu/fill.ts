/** Fills GPU memory with a 32-bit pattern, recorded in order with other dispatches. */
import fillWgsl from "../../shaders/fill.wgsl" with { type: "text" };
import type { BufferBinding, GpuContext } from "./context.ts";
import { declareKernel } from "./declare_kernel.ts";

const FILL = /* @__PURE__ */ declareKernel({
  name: "fill",
  source: fillWgsl,
  params: {
    count: "u32", // words to write
    value: "u32", // bit pattern
  },
  entries: { main: { dst: "read_write array<u32>" } },
  workgroupSize: 256,
});

/** NaN bit patterns used to poison outputs before a kernel runs. */
export const POISON_F32 = 0x7fc00000;
export const POISON_F16X2 = 0x7e007e00;

/** Writes `value` into `words` 32-bit words of `target`. */
export function fillWords(
  ctx: GpuContext,
  target: BufferBinding,
  words: number,
  value: number,
): void {
  FILL.dispatch(ctx, {
    params: { count: words, value: value >>> 0 },
    bindings: { dst: { ...target, size: words * 4 } },
    workgroups: FILL.grid(ctx, words),
  });
}
