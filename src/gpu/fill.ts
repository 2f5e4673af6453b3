/** Fills GPU memory with a 32-bit pattern, recorded in order with other dispatches. */
import fillWgsl from "../../shaders/fill.wgsl" with { type: "text" };
import { type BufferBinding, type GpuContext, grid } from "./context.ts";
import type { KernelSpec } from "./kernel.ts";

const FILL: KernelSpec = { name: "fill", code: fillWgsl, params: true, storage: ["read_write"] };

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
  ctx.dispatch(FILL, {
    params: new Uint32Array([words, value >>> 0]),
    bindings: [{ ...target, size: words * 4 }],
    workgroups: grid(ctx, Math.ceil(words / 256)),
  });
}
