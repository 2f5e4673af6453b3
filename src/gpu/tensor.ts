/**
 * A GPU tensor: shape, dtype and a range of a GPU buffer. Tensors own their
 * buffer (from the pool) unless they are views; {@link Tensor.release} hands
 * the buffer back. Row-major, contiguous.
 */
import { type DType, DTYPE_BYTES, f16ToF32, f32ToF16 } from "../dtype.ts";
import type { BufferBinding, GpuContext } from "./context.ts";
import { fillWords, POISON_F16X2, POISON_F32 } from "./fill.ts";

/** Tensor dimensions, outermost first (row-major). */
export type Shape = readonly number[];

/** Typed arrays a tensor reads back into or uploads from. */
export type HostArray = Float32Array | Uint16Array | Uint32Array | Int32Array | Uint8Array;

export function numel(shape: Shape): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function shapeStr(shape: Shape): string {
  return `[${shape.join(", ")}]`;
}

/** Thrown when one tensor cannot be bound as a single storage buffer on this adapter. */
export class TensorTooLargeError extends Error {
  /** Names the tensor, its shape, dtype and size, and the adapter's limit. */
  constructor(label: string, shape: Shape, dtype: DType, bytes: number, limit: number) {
    super(
      `tensor '${label}' ${shapeStr(shape)} ${dtype} is ${bytes} bytes, above this adapter's ` +
        `maxStorageBufferBindingSize of ${limit} bytes: split it (e.g. by rows) or use a GPU ` +
        `with a larger limit`,
    );
    this.name = "TensorTooLargeError";
  }
}

/**
 * An n-dimensional array in a GPU storage buffer (taken from the context's pool),
 * with its shape and element type. Created by `upload` / `empty`, read back with
 * `read` / `toF32`, returned to the pool with `release`.
 */
export class Tensor {
  private alive = true;

  private constructor(
    /** Whether the buffer is a weight's (allocated exact, or a view of one): never recorded by a scope. */
    private readonly weight: boolean,
    readonly ctx: GpuContext,
    readonly shape: Shape,
    readonly dtype: DType,
    readonly buffer: GPUBuffer,
    /** Byte offset of element 0 in `buffer`. */
    readonly offset: number,
    /** Whether release() returns the buffer to the pool. */
    private readonly owner: boolean,
    readonly label: string,
    /** The tensor owning the buffer, for a view (a view never releases it). */
    readonly base?: Tensor,
  ) {
    // Weights belong to their model; everything else to the open scope, if any.
    if (!weight) ctx.scopes.track(this);
  }

  /** Number of elements. */
  get numel(): number {
    return numel(this.shape);
  }

  /** Bytes of the elements (without pool rounding). */
  get byteSize(): number {
    return this.numel * DTYPE_BYTES[this.dtype];
  }

  /** The range to bind; size rounded up to whole 32-bit words. */
  get binding(): BufferBinding {
    this.assertAlive();
    return {
      buffer: this.buffer,
      offset: this.offset,
      size: Math.max(4, Math.ceil(this.byteSize / 4) * 4),
    };
  }

  /**
   * A new uninitialised tensor (NaN-filled when `ctx.poisonOutputs`).
   * `exact` allocates outside the pool (weights).
   */
  static empty(
    ctx: GpuContext,
    shape: Shape,
    dtype: DType,
    label = "tensor",
    exact = false,
  ): Tensor {
    const bytes = numel(shape) * DTYPE_BYTES[dtype];
    checkBindable(ctx, label, shape, dtype, bytes);
    const { buffer } = ctx.pool.acquire(bytes, label, exact);
    const t = new Tensor(exact, ctx, shape, dtype, buffer, 0, true, label);
    if (ctx.poisonOutputs) {
      fillWords(ctx, t.binding, Math.ceil(bytes / 4), dtype === "f16" ? POISON_F16X2 : POISON_F32);
    }
    return t;
  }

  /**
   * Uploads host data. `f16` data is given as its bits (`Uint16Array`), `u8`
   * as bytes. The bytes go straight to `queue.writeBuffer` (a memory-mapped
   * view is never copied on the CPU side).
   */
  static upload(
    ctx: GpuContext,
    data: HostArray,
    shape: Shape,
    dtype: DType,
    label = "tensor",
    exact = false,
  ): Tensor {
    const bytes = numel(shape) * DTYPE_BYTES[dtype];
    if (data.byteLength !== bytes) {
      throw new Error(
        `tensor '${label}': ${data.byteLength} bytes given for ${
          shapeStr(shape)
        } ${dtype} (${bytes} bytes)`,
      );
    }
    checkBindable(ctx, label, shape, dtype, bytes);
    const { buffer, fresh } = ctx.pool.acquire(bytes, label, exact);
    // writeBuffer runs before commands still unsubmitted; a reused buffer may be read by them.
    if (!fresh && ctx.pending) ctx.flush();
    writeBytes(
      ctx,
      buffer,
      new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength),
    );
    return new Tensor(exact, ctx, shape, dtype, buffer, 0, true, label);
  }

  /** Uploads f32 values, converting to f16 when `dtype` is `f16`. */
  static fromF32(
    ctx: GpuContext,
    data: Float32Array,
    shape: Shape,
    dtype: "f32" | "f16" = "f32",
    label = "tensor",
  ): Tensor {
    if (dtype === "f32") return Tensor.upload(ctx, data, shape, "f32", label);
    return Tensor.upload(ctx, toF16Bits(data), shape, "f16", label);
  }

  /** Same bytes seen with another shape (and dtype); the view does not own the buffer. */
  view(shape: Shape, dtype: DType = this.dtype, byteOffset = 0, label = this.label): Tensor {
    this.assertAlive();
    const bytes = numel(shape) * DTYPE_BYTES[dtype];
    if (byteOffset + bytes > this.byteSize) {
      throw new Error(
        `view ${shapeStr(shape)} ${dtype} at +${byteOffset} exceeds tensor '${this.label}' ${
          shapeStr(this.shape)
        } ${this.dtype}`,
      );
    }
    const base = this.base ?? this;
    const { ctx, buffer, offset } = this;
    return new Tensor(
      this.weight,
      ctx,
      shape,
      dtype,
      buffer,
      offset + byteOffset,
      false,
      label,
      base,
    );
  }

  /** Raw contents (f16 as bits). Flushes pending work and waits for it. */
  async read(): Promise<HostArray> {
    this.assertAlive();
    const ab = await this.ctx.readBuffer(
      this.buffer,
      this.offset,
      Math.ceil(this.byteSize / 4) * 4,
    );
    switch (this.dtype) {
      case "f32":
        return new Float32Array(ab, 0, this.numel);
      case "f16":
        return new Uint16Array(ab, 0, this.numel);
      case "u32":
        return new Uint32Array(ab, 0, this.numel);
      case "i32":
        return new Int32Array(ab, 0, this.numel);
      case "u8":
        return new Uint8Array(ab, 0, this.numel);
    }
  }

  /** Contents as f32 (f16 widened). */
  async toF32(): Promise<Float32Array> {
    const raw = await this.read();
    if (raw instanceof Float32Array) return raw;
    if (this.dtype === "f16") return Float32Array.from(raw as Uint16Array, f16ToF32);
    return Float32Array.from(raw);
  }

  /** Returns the buffer to the pool. Using the tensor afterwards is an error. */
  release(): void {
    if (!this.alive) return;
    this.alive = false;
    if (this.owner) this.ctx.pool.release(this.buffer);
  }

  /** Whether `release()` was called (on this tensor, or on the base of this view). */
  get released(): boolean {
    return !this.alive || !!this.base?.released;
  }

  /**
   * Throws when the tensor was released: by `release()`, or by the end of the
   * `ctx.scope` that created it (for a view: when its base was).
   */
  private assertAlive(): void {
    if (!this.alive) throw new Error(`tensor '${this.label}' used after release()`);
    if (this.base?.released) {
      throw new Error(
        `tensor '${this.label}' used after release() of '${this.base.label}', the tensor it views`,
      );
    }
  }
}

/**
 * Throws when the tensor exceeds one storage binding — except on a shape-only
 * context, which goes on so that a plan sees the whole run (`ctx.pool.largest`
 * then names the buffer, and the planner refuses the request).
 */
function checkBindable(ctx: GpuContext, label: string, shape: Shape, dtype: DType, bytes: number) {
  const limit = ctx.limits.maxStorageBufferBindingSize;
  if (bytes > limit && !ctx.shapeOnly) {
    throw new TensorTooLargeError(label, shape, dtype, bytes, limit);
  }
}

/** writeBuffer needs a multiple of 4 bytes: pad the tail when needed. */
function writeBytes(ctx: GpuContext, buffer: GPUBuffer, bytes: Uint8Array<ArrayBuffer>): void {
  const whole = bytes.byteLength & ~3;
  if (whole > 0) ctx.device.queue.writeBuffer(buffer, 0, bytes, 0, whole);
  if (whole < bytes.byteLength) {
    const tail = new Uint8Array(4);
    tail.set(bytes.subarray(whole));
    ctx.device.queue.writeBuffer(buffer, whole, tail);
  }
}

export function toF16Bits(data: Float32Array): Uint16Array {
  const out = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = f32ToF16(data[i]);
  return out;
}
