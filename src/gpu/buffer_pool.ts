/**
 * Reuses GPU buffers between tensors and tracks how many bytes are live.
 *
 * Activations come and go every layer; creating a GPUBuffer each time is slow
 * and fragments memory. Released buffers go back to a free list keyed by a
 * rounded size class. Reusing a buffer inside one command batch is safe:
 * commands recorded later in the same encoder run after earlier ones. Only
 * `queue.writeBuffer` jumps ahead of recorded commands, so {@link acquire}
 * reports whether a buffer is fresh and `Tensor.upload` flushes before
 * writing into a reused one.
 *
 * A shape-only context (`GpuContext.shapeOnly`) uses this same pool over
 * buffers that are only sizes, so its live and peak bytes are a real run's.
 */

export interface MemoryStats {
  /** Bytes of buffers handed out and not yet released. */
  liveBytes: number;
  /** Highest `liveBytes` seen since creation or the last `resetPeak()`. */
  peakBytes: number;
  /** Bytes of all GPU buffers that exist (live + pooled free). */
  allocatedBytes: number;
}

/** What the pool creates its buffers with: a `GPUDevice`, or a shape-only stand-in. */
export interface BufferAllocator {
  /** Creates one buffer. */
  createBuffer(descriptor: GPUBufferDescriptor): GPUBuffer;
}

export const STORAGE_USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC |
  GPUBufferUsage.COPY_DST;

/** Size classes: 256-byte steps below 64 KiB, then 8 steps per power of two (≤ 12.5% waste). */
export function sizeClass(bytes: number): number {
  const b = Math.max(256, Math.ceil(bytes / 256) * 256);
  if (b <= 65536) return b;
  const step = 2 ** (Math.floor(Math.log2(b)) - 3);
  return Math.ceil(b / step) * step;
}

/** Reuses GPU storage buffers between tensors (size classes, a free list) and counts live, peak and allocated bytes. Each {@link GpuContext} has one (`ctx.pool`). */
export class BufferPool {
  private free = new Map<number, GPUBuffer[]>();
  private sizes = new WeakMap<GPUBuffer, number>();
  /** Exact buffers released while commands that use them may be unsubmitted. */
  private doomed: GPUBuffer[] = [];
  /** Live, peak and allocated bytes, updated as buffers are handed out and released. */
  readonly stats: MemoryStats = { liveBytes: 0, peakBytes: 0, allocatedBytes: 0 };
  /**
   * The largest buffer asked for since creation or the last `resetPeak()`
   * (bytes as requested, before size classes), and its label: what must fit
   * one storage binding.
   */
  largest: { bytes: number; label: string } = { bytes: 0, label: "" };

  /** A pool for `device`'s buffers. */
  constructor(private device: BufferAllocator) {}

  /**
   * A storage buffer of at least `bytes`. `exact` skips size classes and the
   * free list (weights: allocated once, sized exactly).
   */
  acquire(bytes: number, label: string, exact = false): { buffer: GPUBuffer; fresh: boolean } {
    const size = exact ? Math.max(4, Math.ceil(bytes / 4) * 4) : sizeClass(bytes);
    if (bytes > this.largest.bytes) this.largest = { bytes, label };
    let buffer = exact ? undefined : this.free.get(size)?.pop();
    const fresh = !buffer;
    if (!buffer) {
      buffer = this.device.createBuffer({ size, usage: STORAGE_USAGE, label });
      this.stats.allocatedBytes += size;
    }
    this.sizes.set(buffer, exact ? -size : size);
    this.stats.liveBytes += size;
    this.stats.peakBytes = Math.max(this.stats.peakBytes, this.stats.liveBytes);
    return { buffer, fresh };
  }

  /**
   * Returns a buffer from {@link acquire}. Exact ones are destroyed at the next
   * {@link afterSubmit}: destroying a buffer that an unsubmitted command
   * buffer uses would invalidate that whole submit.
   */
  release(buffer: GPUBuffer): void {
    const tagged = this.sizes.get(buffer);
    if (tagged === undefined) throw new Error(`buffer '${buffer.label}' is not from this pool`);
    this.sizes.delete(buffer);
    const size = Math.abs(tagged);
    this.stats.liveBytes -= size;
    if (tagged < 0) {
      this.doomed.push(buffer);
      this.stats.allocatedBytes -= size;
      return;
    }
    let list = this.free.get(size);
    if (!list) this.free.set(size, list = []);
    list.push(buffer);
  }

  /** Called by the context right after each submit. */
  afterSubmit(): void {
    for (const b of this.doomed) b.destroy();
    this.doomed.length = 0;
  }

  /** Destroys every pooled free buffer (after a big phase, e.g. the text encoder). */
  trim(): void {
    for (const [size, list] of this.free) {
      for (const b of list) b.destroy();
      this.stats.allocatedBytes -= size * list.length;
    }
    this.free.clear();
  }

  /**
   * Starts a new peak measurement: `stats.peakBytes` becomes the current live
   * bytes, and the largest buffer is forgotten.
   */
  resetPeak(): void {
    this.stats.peakBytes = this.stats.liveBytes;
    this.largest = { bytes: 0, label: "" };
  }
}
