/**
 * Reads one safetensors file: an 8-byte little-endian header length N, N
 * bytes of JSON (`{name: {dtype, shape, data_offsets: [begin, end]}, ...,
 * "__metadata__": {...}}`), then the data section the offsets index into.
 * Everything in the header is checked on open, so a bad file fails at once
 * with its name and the offending tensor instead of producing garbage later.
 */
import type { ByteSource } from "../platform/types.ts";
import {
  decodeF32,
  isSafetensorsDType,
  ITEM_BYTES,
  missingTensor,
  numelOf,
  shapeText,
  type TensorInfo,
  type TensorStore,
} from "./tensor_store.ts";

/** Largest header accepted (the real checkpoints' headers are well under 1 MB). */
export const MAX_HEADER_BYTES = 100_000_000;

/**
 * One safetensors file, header checked on open; tensors read as raw bytes or f32.
 *
 * @example
 * ```ts
 * import { platform, SafetensorsFile } from "@ideogram4/webgpu";
 *
 * const file = await SafetensorsFile.open(await platform().open("model.safetensors"));
 * console.log(file.names(), file.metadata);
 * const values = await file.f32(file.names()[0]);
 * file.close();
 * ```
 */
export class SafetensorsFile implements TensorStore {
  private constructor(
    readonly source: ByteSource,
    /** The header's `__metadata__` (string → string), `{}` when absent. */
    readonly metadata: Record<string, string>,
    private readonly tensors: Map<string, TensorInfo>,
  ) {}

  /** Reads and validates the header of `source`; tensor data is read on demand. */
  static async open(source: ByteSource): Promise<SafetensorsFile> {
    const file = source.name;
    if (source.size < 8) {
      throw new Error(`${file}: ${source.size} bytes is too short for a safetensors file`);
    }
    const lenBytes = await source.read(0, 8);
    const headerLen = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true);
    if (headerLen > BigInt(MAX_HEADER_BYTES)) {
      throw new Error(
        `${file}: header length ${headerLen} is over the ${MAX_HEADER_BYTES}-byte limit ` +
          `(not a safetensors file?)`,
      );
    }
    const n = Number(headerLen);
    if (8 + n > source.size) {
      throw new Error(
        `${file}: header length ${n} runs past the end of the ${source.size}-byte file ` +
          `(truncated, or not a safetensors file)`,
      );
    }
    let header: unknown;
    try {
      header = JSON.parse(
        new TextDecoder("utf-8", { fatal: true }).decode(await source.read(8, n)),
      );
    } catch (e) {
      throw new Error(
        `${file}: header is not valid JSON (${e instanceof Error ? e.message : e})`,
      );
    }
    if (typeof header !== "object" || header === null || Array.isArray(header)) {
      throw new Error(`${file}: header is not a JSON object`);
    }
    const dataStart = 8 + n;
    const dataSize = source.size - dataStart;
    const metadata = parseMetadata(file, (header as Record<string, unknown>).__metadata__);
    const tensors = new Map<string, TensorInfo>();
    const spans: { name: string; begin: number; end: number }[] = [];
    for (const [name, entry] of Object.entries(header)) {
      if (name === "__metadata__") continue;
      const { info, begin, end } = parseEntry(file, name, entry, dataStart, dataSize);
      tensors.set(name, info);
      if (end > begin) spans.push({ name, begin, end });
    }
    spans.sort((a, b) => a.begin - b.begin);
    for (let i = 1; i < spans.length; i++) {
      const [a, b] = [spans[i - 1], spans[i]];
      if (b.begin < a.end) {
        throw new Error(
          `${file}: tensors '${a.name}' [${a.begin}, ${a.end}) and '${b.name}' ` +
            `[${b.begin}, ${b.end}) overlap in the data section`,
        );
      }
    }
    return new SafetensorsFile(source, metadata, tensors);
  }

  get name(): string {
    return this.source.name;
  }

  /** Tensor names in header order. */
  names(): string[] {
    return [...this.tensors.keys()];
  }

  /** Whether the file holds a tensor of that name. */
  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): TensorInfo {
    const info = this.tensors.get(name);
    if (!info) throw missingTensor(this.name, name, this.names());
    return info;
  }

  /** The tensor's bytes: a view over the mapping when the file is mmapped (do not write). */
  bytes(name: string): Promise<Uint8Array> {
    let info: TensorInfo;
    try {
      info = this.info(name);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.source.read(info.byteOffset, info.byteLength);
  }

  async f32(name: string): Promise<Float32Array> {
    const info = this.info(name);
    return decodeF32(info, await this.source.read(info.byteOffset, info.byteLength));
  }

  /** Releases the file (and its mapping). */
  close(): void {
    this.source.close();
  }
}

function parseMetadata(file: string, raw: unknown): Record<string, string> {
  if (raw === undefined) return {};
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new Error(`${file}: __metadata__ is not a JSON object`);
  }
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== "string") throw new Error(`${file}: __metadata__ '${k}' is not a string`);
  }
  return raw as Record<string, string>;
}

/** Validates one header entry and returns where its bytes are. */
function parseEntry(
  file: string,
  name: string,
  entry: unknown,
  dataStart: number,
  dataSize: number,
): { info: TensorInfo; begin: number; end: number } {
  const where = `${file}: tensor '${name}'`;
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
    throw new Error(`${where}: header entry is not an object`);
  }
  const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
  if (!isSafetensorsDType(dtype)) {
    throw new Error(
      `${where}: unsupported dtype ${JSON.stringify(dtype)} ` +
        `(supported: ${Object.keys(ITEM_BYTES).join(", ")})`,
    );
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new Error(`${where}: shape ${JSON.stringify(shape)} is not a list of integers ≥ 0`);
  }
  if (
    !Array.isArray(offsets) || offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]
  ) {
    throw new Error(`${where}: data_offsets ${JSON.stringify(offsets)} is not [begin, end]`);
  }
  const [begin, end] = offsets as [number, number];
  if (end > dataSize) {
    throw new Error(
      `${where}: data_offsets [${begin}, ${end}] go past the end of the ${dataSize}-byte ` +
        `data section (file truncated, or offsets out of range)`,
    );
  }
  const expected = numelOf(shape) * ITEM_BYTES[dtype];
  if (end - begin !== expected) {
    throw new Error(
      `${where}: data_offsets span ${end - begin} bytes but ${dtype} ${shapeText(shape)} ` +
        `needs ${expected}`,
    );
  }
  return {
    info: { name, file, dtype, shape, byteOffset: dataStart + begin, byteLength: end - begin },
    begin,
    end,
  };
}
