/**
 * Weight streaming: a model's blocks take turns in a few GPU slots (two by
 * default) instead of all living on the GPU. Block `i` always lives in slot
 * `i mod slots`, at offsets fixed at construction, so the GPU tensors that
 * view a block's weights are made once and reused every pass; only the
 * bytes behind them change. Each pass writes every block's host bytes into
 * its slot with `queue.writeBuffer`, straight from the host arrays (views
 * over a memory-mapped checkpoint are not copied on the CPU side).
 *
 * Ordering. `queue.writeBuffer` is a queue operation: it lands after every
 * command buffer submitted before the call and before every one submitted
 * after it, but commands *recorded* before the call and submitted after it
 * (our context records a whole forward into one open encoder until
 * `flush()`) would see the new bytes. So a slot is rewritten only once the
 * commands reading its previous block have been submitted: each slot
 * remembers the submit (`ctx.submitCount`) whose encoder was open when its
 * block was last loaded or last read ({@link done}), and {@link load} calls
 * `ctx.flush()` first when that submit has not happened yet (later writes
 * are then queued after it). The commands of the block just written are
 * recorded after the write, hence submitted after it, hence see it.
 *
 * Double buffering. After block `i`'s commands are recorded, {@link done}
 * submits them (the GPU starts on block `i`) and at once writes into the
 * slot the next block that uses it (`i + slots`, or at the end of a pass
 * the slot's first block of the next pass): the CPU side of that write
 * (`writeBuffer` copies into a staging buffer, page faults from the mapping
 * included) overlaps the GPU's work on block `i`, and block `i + 1`, in the
 * other slot, was written one block earlier, so its commands can follow
 * without waiting for a copy. (WebGPU has one queue: the GPU-side copy
 * itself still runs between the compute of two submits.) A slot holding a
 * single block keeps it: with no more blocks than slots nothing is
 * written after the first pass.
 */
import type { GpuContext } from "../gpu/context.ts";
import { type Shape, shapeStr, Tensor } from "../gpu/tensor.ts";
import { type DType, DTYPE_BYTES } from "../dtype.ts";

/** Where one host array of a block lives in its slot. */
export interface SlotPlacement {
  /** Index of the slot's GPU buffer. */
  buffer: number;
  /** Byte offset in that buffer (a multiple of `minStorageBufferOffsetAlignment`). */
  offset: number;
  /** Bytes reserved (the array's length rounded up to 4). */
  bytes: number;
}

export interface WeightSlotsOptions {
  /** Label prefix of the slot buffers. */
  label: string;
  /** Number of slots (default 2: one being read while the next is written). */
  slots?: number;
  /**
   * Largest GPU buffer of a slot in bytes (default and ceiling: the device's
   * `maxStorageBufferBindingSize` and `maxBufferSize`). A slot is as many
   * buffers as its largest block needs. Tests lower it.
   */
  maxBufferBytes?: number;
}

interface Block {
  items: Uint8Array[];
  /** Each item's length when laid out (a mapped view reads as empty once its file is closed). */
  lengths: number[];
  at: SlotPlacement[];
  bytes: number;
}

/** The block-to-slot streaming machinery; see the file comment for the ordering rules. */
export class WeightSlots {
  readonly slotCount: number;
  /** Bytes written into the slots so far (benchmarks and tests). */
  bytesWritten = 0;
  /** Block writes so far. */
  blockWrites = 0;
  private readonly blocks: Block[];
  /** `buffers[slot][j]`: the slot's GPU buffers, each a `u8` tensor. */
  private readonly buffers: Tensor[][] = [];
  /** The block each slot holds (−1: none, or a write that failed). */
  private readonly holds: number[];
  /** `ctx.submitCount` while the commands reading each slot's block were recorded. */
  private readonly readersAt: number[];
  private released = false;

  /** `blocks[i]`: block `i`'s host arrays in a fixed order (see {@link view}). */
  constructor(
    readonly ctx: GpuContext,
    blocks: Uint8Array[][],
    private readonly opts: WeightSlotsOptions,
  ) {
    if (blocks.length === 0) throw new Error(`${opts.label}: no blocks to stream`);
    this.slotCount = Math.min(opts.slots ?? 2, blocks.length);
    if (!(this.slotCount >= 1)) throw new Error(`${opts.label}: bad slot count ${opts.slots}`);
    const lim = ctx.limits;
    const cap = Math.min(
      opts.maxBufferBytes ?? Infinity,
      lim.maxStorageBufferBindingSize,
      lim.maxBufferSize,
    );
    const align = lim.minStorageBufferOffsetAlignment;
    this.blocks = blocks.map((items, i) => layOut(items, cap, align, `${opts.label} block ${i}`));
    // Each slot's buffer j is as large as buffer j of the largest block using the slot.
    const sizes: number[][] = Array.from({ length: this.slotCount }, () => []);
    this.blocks.forEach((b, i) => {
      const s = sizes[i % this.slotCount];
      for (const p of b.at) s[p.buffer] = Math.max(s[p.buffer] ?? 0, p.offset + p.bytes);
    });
    try {
      sizes.forEach((s, slot) => {
        this.buffers.push([]);
        s.forEach((n, j) =>
          this.buffers[slot].push(
            Tensor.empty(ctx, [n], "u8", `${opts.label}.slot${slot}.${j}`, true),
          )
        );
      });
    } catch (e) {
      for (const t of this.buffers.flat()) t.release();
      throw e;
    }
    this.holds = new Array(this.slotCount).fill(-1);
    // Poisoning may have recorded fills of the new buffers: they count as readers.
    this.readersAt = new Array(this.slotCount).fill(ctx.submitCount);
  }

  get blockCount(): number {
    return this.blocks.length;
  }

  /** GPU bytes of all slots. */
  get gpuBytes(): number {
    let n = 0;
    for (const t of this.buffers.flat()) n += t.byteSize;
    return n;
  }

  /** Bytes of block `i` (as laid out in its slot). */
  blockBytes(i: number): number {
    return this.blocks[i].bytes;
  }

  /**
   * Bytes written per pass once running: every block of each slot shared by
   * several blocks (a slot holding a single block keeps it).
   */
  get bytesPerPass(): number {
    let n = 0;
    this.blocks.forEach((b, i) => {
      const shared = this.blocks.length > (i % this.slotCount) + this.slotCount;
      if (shared) n += b.bytes;
    });
    return n;
  }

  /**
   * A tensor over host array `item` of block `block` in its slot (valid
   * while the block is loaded). Made once per piece, at build time.
   */
  view(block: number, item: number, shape: Shape, dtype: DType, label: string): Tensor {
    const b = this.blocks[block], at = b?.at[item];
    if (!at) throw new Error(`${this.opts.label}: no item ${item} in block ${block}`);
    const bytes = shape.reduce((a, d) => a * d, 1) * DTYPE_BYTES[dtype];
    if (bytes > b.items[item].byteLength) {
      throw new Error(
        `${label}: ${shapeStr(shape)} ${dtype} is ${bytes} bytes; block ${block} item ${item} ` +
          `holds ${b.items[item].byteLength}`,
      );
    }
    return this.buffers[block % this.slotCount][at.buffer].view(shape, dtype, at.offset, label);
  }

  /** Before a pass: the first blocks into their slots (no-op when already there). */
  begin(): void {
    for (let i = 0; i < this.slotCount; i++) this.load(i);
  }

  /**
   * Makes block `i` the contents of its slot for commands recorded from now
   * on: submits the recorded readers of the slot's previous block first if
   * they are still unsubmitted, then writes the block.
   */
  load(i: number): void {
    this.assertAlive();
    const s = i % this.slotCount;
    if (this.holds[s] === i) return;
    const ctx = this.ctx;
    if (ctx.pending && this.readersAt[s] === ctx.submitCount) ctx.flush();
    this.holds[s] = -1;
    const b = this.blocks[i];
    const bufs = this.buffers[s];
    b.items.forEach((data, j) => {
      const at = b.at[j];
      if (data.byteLength !== b.lengths[j]) {
        throw new Error(
          `${this.opts.label}: block ${i}'s host bytes are gone (${data.byteLength} bytes ` +
            `where ${b.lengths[j]} were laid out): was the checkpoint closed while a ` +
            `streaming model still uses it?`,
        );
      }
      writePadded(ctx, bufs[at.buffer].buffer, at.offset, data);
    });
    this.holds[s] = i;
    // Commands recorded from now on may read the block (done() refines this).
    this.readersAt[s] = ctx.submitCount;
    this.bytesWritten += b.bytes;
    this.blockWrites++;
  }

  /**
   * Every command reading block `i` is recorded: submits them (through the
   * write below) and refills the slot with the next block that uses it.
   */
  done(i: number): void {
    this.assertAlive();
    const s = i % this.slotCount;
    this.readersAt[s] = this.ctx.submitCount;
    const next = i + this.slotCount < this.blocks.length ? i + this.slotCount : s;
    this.load(next);
  }

  /** Frees the slots (the host arrays belong to the caller). Idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    for (const t of this.buffers.flat()) t.release();
    this.buffers.length = 0;
  }

  private assertAlive(): void {
    if (this.released) throw new Error(`${this.opts.label}: weight slots used after release()`);
  }
}

/** Packs a block's arrays one after another into buffers of at most `cap` bytes. */
function layOut(items: Uint8Array[], cap: number, align: number, what: string): Block {
  const at: SlotPlacement[] = [];
  let buffer = 0, offset = 0, total = 0;
  for (const data of items) {
    const bytes = Math.max(4, Math.ceil(data.byteLength / 4) * 4);
    if (bytes > cap) {
      throw new Error(`${what}: an array of ${bytes} bytes exceeds the slot buffer limit ${cap}`);
    }
    let start = Math.ceil(offset / align) * align;
    if (start + bytes > cap) {
      buffer++;
      start = 0;
    }
    at.push({ buffer, offset: start, bytes });
    offset = start + bytes;
    total += bytes;
  }
  return { items, lengths: items.map((d) => d.byteLength), at, bytes: total };
}

/** `queue.writeBuffer` needs whole 4-byte words: the last partial word goes through a padded copy. */
function writePadded(ctx: GpuContext, buffer: GPUBuffer, offset: number, data: Uint8Array): void {
  const whole = data.byteLength & ~3;
  const src = data as Uint8Array<ArrayBuffer>;
  if (whole > 0) ctx.device.queue.writeBuffer(buffer, offset, src, 0, whole);
  if (whole < data.byteLength) {
    const tail = new Uint8Array(4);
    tail.set(data.subarray(whole));
    ctx.device.queue.writeBuffer(buffer, offset + whole, tail);
  }
}
