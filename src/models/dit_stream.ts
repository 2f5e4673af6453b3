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
 * (`uploadLinear`: the format records' row-band parts — packed weight bytes
 * and decode table, `hostLinearParts` —, biases, norm weights), at
 * aligned offsets, and the GPU tensors over those offsets are made once, so
 * the forward runs the same kernels on the same bytes as the resident model
 * and gives bit-identical results. The small decoded arrays (nf4 absmax as
 * f32, fp8 scales, biases, norms: ≈ 12 % of an nf4 block) are kept on the
 * host ({@link StreamedDiTBlocks.hostBytes}); the packed weights are not
 * copied.
 */
import type { GpuContext } from "../gpu/context.ts";
import {
  gpuFormat,
  hostLinearParts,
  linearBlockSize,
  type LinearGpuFormat,
} from "../formats/mod.ts";
import { LinearWeight } from "../ops/linear.ts";
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
        nf4Block: linearBlockSize(p.w),
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
