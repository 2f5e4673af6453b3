/**
 * The DiT's blocks streamed through two GPU slots (residency `"stream"`):
 * for GPUs that cannot hold both transformers' 34 blocks (≈ 5 GB each in
 * nf4, ≈ 9.3 GB in fp8). Only the globals stay uploaded; each forward writes
 * every block's weights, still compressed, into slot `i mod 2` just before
 * it is needed (`weight_slots.ts` has the ordering and double-buffering
 * rules), straight from the host bytes — views over the memory-mapped
 * checkpoint, so the checkpoint must stay open while the model lives.
 *
 * Per block the slot holds exactly what the resident upload would
 * (`uploadLinear`: packed weight bytes per row-band part, the nf4 table
 * `quant_map[16] + absmax` or the fp8 row scales, biases, norm weights), at
 * aligned offsets, and the GPU tensors over those offsets are made once, so
 * the forward runs the same kernels on the same bytes as the resident model
 * and gives bit-identical results. The small decoded arrays (nf4 absmax as
 * f32, fp8 scales, biases, norms: ≈ 12 % of an nf4 block) are kept on the
 * host ({@link StreamedDiTBlocks.hostBytes}); the packed weights are not
 * copied.
 */
import type { GpuContext } from "../gpu/context.ts";
import type { HostLinear } from "../io/host_linear.ts";
import { gpuFormat, type LinearGpuFormat, LinearWeight } from "../ops/linear.ts";
import {
  type DiTBlocks,
  type DiTGpuLayer,
  type DiTLayerOf,
  ditLayerPieces,
  layerMembers,
  mapDiTLayer,
  type NamedLinear,
  type NamedVector,
} from "./dit_layer.ts";
import type { DiTLayerHost } from "./dit_weights.ts";
import { WeightSlots } from "./weight_slots.ts";

export interface StreamedDiTOptions {
  /** Label prefix (`<name>.layers.N.…`, `<name>.slotS.J`). */
  name: string;
  /** Largest GPU buffer of a slot (default: the device limit); tests lower it. */
  maxBufferBytes?: number;
}

/** One band of output rows of a host weight: what one `LinearWeight` part holds. */
interface HostLinearPart {
  row0: number;
  rows: number;
  weight: Uint8Array;
  /** nf4 `quant_map[16] + absmax` of the band's blocks, or fp8 row scales. */
  aux?: Float32Array;
}

/** A Linear of a block, its arrays numbered in the block's item list. */
interface PlannedLinear {
  label: string;
  format: LinearGpuFormat;
  out: number;
  in: number;
  nf4Block: number;
  parts: { row0: number; rows: number; weight: number; aux?: number }[];
  bias?: number;
}

type PlannedLayer = DiTLayerOf<PlannedLinear, { item: number; label: string }>;

/**
 * `w` cut into the parts `uploadLinear` makes: as many output rows per part
 * as fit in `limit` bytes, a multiple of 256 when cut, so nf4 blocks and
 * words never straddle two parts.
 */
export function hostLinearParts(w: HostLinear, limit: number, label: string): HostLinearPart[] {
  const { out, in: k } = w;
  const halfBytes = w.format === "nf4" ? 1 : w.format === "fp8" ? 2 : w.dtype === "f32" ? 8 : 4;
  let rowsPerPart = Math.floor((limit * 2) / (k * halfBytes));
  if (rowsPerPart < out) rowsPerPart = Math.floor(rowsPerPart / 256) * 256;
  if (rowsPerPart < 1) {
    throw new Error(`linear '${label}': 256 rows of [${out}, ${k}] exceed ${limit} bytes`);
  }
  const parts: HostLinearPart[] = [];
  for (let row0 = 0; row0 < out; row0 += rowsPerPart) {
    const rows = Math.min(rowsPerPart, out - row0);
    const e0 = row0 * k, e1 = (row0 + rows) * k;
    switch (w.format) {
      case "dense": {
        const bpe = w.dtype === "f32" ? 4 : 2;
        parts.push({ row0, rows, weight: w.bytes.subarray(e0 * bpe, e1 * bpe) });
        break;
      }
      case "fp8":
        parts.push({
          row0,
          rows,
          weight: w.bytes.subarray(e0, e1),
          aux: w.scale.slice(row0, row0 + rows),
        });
        break;
      case "nf4": {
        if (parts.length > 0 && e0 % w.blocksize !== 0) {
          throw new Error(`linear '${label}': part boundary inside an nf4 block`);
        }
        const b0 = Math.floor(e0 / w.blocksize), b1 = Math.ceil(e1 / w.blocksize);
        const table = new Float32Array(16 + b1 - b0);
        table.set(w.quantMap.subarray(0, 16));
        table.set(w.absmax.subarray(b0, b1), 16);
        parts.push({
          row0,
          rows,
          weight: w.packed.subarray(e0 / 2, Math.ceil(e1 / 2)),
          aux: table,
        });
        break;
      }
    }
  }
  return parts;
}

function bytesOf(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** The blocks of a streaming DiT: host arrays, two slots, and the GPU views over them. */
export class StreamedDiTBlocks implements DiTBlocks {
  private constructor(
    private readonly slots: WeightSlots,
    private readonly layers: DiTGpuLayer[],
    /** Bytes of the decoded host arrays kept for streaming. */
    readonly hostBytes: number,
  ) {}

  /** Lays the blocks out in two slots and allocates them; writes nothing yet. */
  static build(
    ctx: GpuContext,
    hostLayers: DiTLayerHost[],
    opts: StreamedDiTOptions,
  ): StreamedDiTBlocks {
    const limit = Math.min(
      opts.maxBufferBytes ?? Infinity,
      ctx.limits.maxStorageBufferBindingSize,
      ctx.limits.maxBufferSize,
    );
    const items: Uint8Array[][] = [];
    let hostBytes = 0;
    const planned = hostLayers.map((host, i): PlannedLayer => {
      const list: Uint8Array[] = [];
      items.push(list);
      const add = (data: Uint8Array, decoded: boolean) => {
        if (decoded) hostBytes += data.byteLength;
        return list.push(data) - 1;
      };
      const lin = (p: NamedLinear): PlannedLinear => ({
        label: p.label,
        format: gpuFormat(p.w),
        out: p.w.out,
        in: p.w.in,
        nf4Block: p.w.format === "nf4" ? p.w.blocksize : 0,
        parts: hostLinearParts(p.w, limit, p.label).map((part) => ({
          row0: part.row0,
          rows: part.rows,
          weight: add(part.weight, false),
          aux: part.aux && add(bytesOf(part.aux), true),
        })),
        bias: p.bias && add(bytesOf(p.bias), true),
      });
      const vec = (p: NamedVector) => ({ item: add(bytesOf(p.v), true), label: p.label });
      return mapDiTLayer(ditLayerPieces(host, `${opts.name}.layers.${i}`), lin, vec);
    });
    const slots = new WeightSlots(ctx, items, {
      label: opts.name,
      maxBufferBytes: opts.maxBufferBytes,
    });
    const layers = planned.map((l, i) => {
      const lengthOf = (item: number) => items[i][item].byteLength;
      const f32 = (item: number, label: string) =>
        slots.view(i, item, [lengthOf(item) / 4], "f32", label);
      return mapDiTLayer(l, (w) => {
        const parts = w.parts.map((p) => {
          const label = `${w.label}[${p.row0}:${p.row0 + p.rows}]`;
          return {
            row0: p.row0,
            rows: p.rows,
            weight: slots.view(i, p.weight, [lengthOf(p.weight)], "u8", label),
            aux: p.aux === undefined ? undefined : f32(p.aux, `${label}.aux`),
          };
        });
        const bias = w.bias === undefined ? undefined : f32(w.bias, `${w.label}.bias`);
        return new LinearWeight(w.label, w.format, w.out, w.in, parts, w.nf4Block, bias);
      }, (v) => f32(v.item, v.label));
    });
    return new StreamedDiTBlocks(slots, layers, hostBytes);
  }

  get count(): number {
    return this.layers.length;
  }

  /** Both slots. */
  get gpuBytes(): number {
    return this.slots.gpuBytes;
  }

  get streamBytesPerForward(): number {
    return this.slots.bytesPerPass;
  }

  /** Bytes written to the slots since load (tests, benchmarks). */
  get bytesStreamed(): number {
    return this.slots.bytesWritten;
  }

  /** Bytes of block `i` as written into its slot. */
  blockBytes(i: number): number {
    return this.slots.blockBytes(i);
  }

  begin(): void {
    this.slots.begin();
  }

  layer(i: number): DiTGpuLayer {
    this.slots.load(i);
    return this.layers[i];
  }

  done(i: number): void {
    this.slots.done(i);
  }

  release(): void {
    // The views own nothing; releasing them only marks them dead.
    for (const l of this.layers) {
      const { linears, vectors } = layerMembers(l);
      for (const w of linears) w.release();
      for (const t of vectors) t.release();
    }
    this.layers.length = 0;
    this.slots.release();
  }
}
