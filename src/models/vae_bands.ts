/**
 * Feature maps stored as horizontal bands of rows, so the VAE decoder works at
 * sizes where one activation is larger than a storage binding may be: at
 * 2048² the top level holds 2048 × 2048 × 128 f32 = 2 GiB per map (4 GiB at
 * 256 channels), and WebGPU adapters bind 128 MiB … 2 GiB at most.
 *
 * A {@link BandedMap} is an `[H, W, C]` image cut into bands `[rows, W, C]`,
 * each its own tensor, without overlap. An op that needs neighbouring rows
 * (a 3×3 conv reads one above and one below) {@link BandedMap.gather}s the
 * rows it needs into one tensor: no copy at all when one band already is
 * exactly those rows (the whole-image case), else copies of whole rows
 * (`copyBufferToBuffer`, which needs only 4-byte alignment, unlike binding
 * views at a row offset, which need 256). {@link planBands} sizes the bands
 * so that a band plus the two halo rows of a gather fits the limit.
 */
import type { GpuContext } from "../gpu/context.ts";
import type { HoldsTensors } from "../gpu/scope.ts";
import { shapeStr, Tensor } from "../gpu/tensor.ts";
import type { ActDType } from "../ops/common.ts";

/** Rows `[start, end)` of an image. */
export type RowRange = readonly [number, number];

export interface Band {
  /** Image row of the tensor's row 0. */
  row0: number;
  /** `[rows, W, C]`. */
  tensor: Tensor;
  /** Whether the map may release it (false for a caller's tensor). */
  owned: boolean;
}

export class BandedMap implements HoldsTensors {
  constructor(
    readonly ctx: GpuContext,
    readonly height: number,
    readonly width: number,
    readonly channels: number,
    readonly dtype: ActDType,
    readonly bands: readonly Band[],
  ) {
    let row = 0;
    for (const b of bands) {
      const s = b.tensor.shape;
      if (b.row0 !== row || s.length !== 3 || s[1] !== width || s[2] !== channels) {
        throw new Error(
          `BandedMap: band '${b.tensor.label}' ${shapeStr(s)} at row ${b.row0} does not continue ` +
            `an image of width ${width} and ${channels} channels at row ${row}`,
        );
      }
      row += s[0];
    }
    if (row !== height) throw new Error(`BandedMap: bands cover ${row} of ${height} rows`);
  }

  /** A map of one tensor `[H, W, C]`. */
  static whole(t: Tensor, owned: boolean): BandedMap {
    const [h, w, c] = t.shape;
    return new BandedMap(t.ctx, h, w, c, t.dtype as ActDType, [{ row0: 0, tensor: t, owned }]);
  }

  /** Bytes of one image row. */
  get rowBytes(): number {
    return this.width * this.channels * (this.dtype === "f16" ? 2 : 4);
  }

  /**
   * Rows `[r0, r1)` as one `[r1 - r0, W, C]` tensor: the band itself when one
   * band is exactly those rows, else a new tensor filled by row copies (call
   * it inside `ctx.scope`, which releases the copy when it ends).
   */
  gather(r0: number, r1: number, label = "vae band"): Tensor {
    if (!(Number.isInteger(r0) && Number.isInteger(r1) && 0 <= r0 && r0 < r1)) {
      throw new Error(`BandedMap.gather: rows [${r0}, ${r1}) are empty`);
    }
    if (r1 > this.height) {
      throw new Error(`BandedMap.gather: rows [${r0}, ${r1}) exceed the ${this.height} rows`);
    }
    const exact = this.bands.find((b) => b.row0 === r0 && b.row0 + b.tensor.shape[0] === r1);
    if (exact) {
      this.assertLive(exact);
      return exact.tensor;
    }
    const rb = this.rowBytes;
    if (rb % 4 !== 0) {
      throw new Error(
        `BandedMap.gather: rows of ${this.width} × ${this.channels} ${this.dtype} are ${rb} ` +
          `bytes, not whole 32-bit words, so they cannot be copied between bands`,
      );
    }
    const out = Tensor.empty(this.ctx, [r1 - r0, this.width, this.channels], this.dtype, label);
    for (const b of this.bands) {
      const a = Math.max(r0, b.row0), e = Math.min(r1, b.row0 + b.tensor.shape[0]);
      if (a >= e) continue;
      this.assertLive(b);
      this.ctx.copy(
        b.tensor.buffer,
        b.tensor.offset + (a - b.row0) * rb,
        out.buffer,
        out.offset + (a - r0) * rb,
        (e - a) * rb,
      );
    }
    return out;
  }

  /** Releases the owned bands that end at or before image row `row`. */
  releaseBefore(row: number): void {
    for (const b of this.bands) {
      if (b.owned && b.row0 + b.tensor.shape[0] <= row) b.tensor.release();
    }
  }

  /** Releases every owned band. */
  release(): void {
    this.releaseBefore(Infinity);
  }

  /** The bands' tensors: a scope that returns the map hands them on with it. */
  scopeTensors(): Tensor[] {
    return this.bands.map((b) => b.tensor);
  }

  private assertLive(b: Band): void {
    if (b.tensor.released) {
      throw new Error(
        `BandedMap: band '${b.tensor.label}' at row ${b.row0} was released before its last use`,
      );
    }
  }
}

/**
 * Row ranges for an image of `height` rows of `rowBytes` each: one band when
 * the whole image fits `limit`, else as few equal bands as keep a band plus
 * `halo` extra rows within it.
 */
export function planBands(
  height: number,
  rowBytes: number,
  limit: number,
  halo = 2,
): RowRange[] {
  if (height * rowBytes <= limit) return [[0, height]];
  const maxRows = Math.floor(limit / rowBytes) - halo;
  if (maxRows < 1) {
    throw new Error(
      `an image row of ${rowBytes} bytes (with ${halo} halo rows) does not fit a storage ` +
        `binding of ${limit} bytes`,
    );
  }
  const n = Math.ceil(height / maxRows);
  return Array.from({ length: n }, (_, i) => [
    Math.floor((i * height) / n),
    Math.floor(((i + 1) * height) / n),
  ]);
}
