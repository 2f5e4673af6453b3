/**
 * NumPy `.npy` files of floats (format versions 1.0, 2.0, 3.0): reading
 * initial noise given by the user, writing latents for inspection.
 *
 * Layout: magic `\x93NUMPY`, major and minor version bytes, header length
 * (u16 LE in v1, u32 LE in v2/v3), then a Python dict literal such as
 * `{'descr': '<f4', 'fortran_order': False, 'shape': (4096, 128), }` padded
 * with spaces and ending in `\n`, then the raw data.
 */
import { f16ToF32 } from "../dtype.ts";
import { TOKEN_CHANNELS } from "../models/ops/unpatchify.ts";

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
/** Element types read, with their sizes; all converted to f32. */
const DTYPES: Record<string, 2 | 4 | 8> = { f2: 2, f4: 4, f8: 8 };

/** A float array read from a `.npy` file. */
export interface NpyArray {
  /** Dimensions, outermost first. */
  shape: number[];
  /** Values (converted to f32), row-major. */
  data: Float32Array<ArrayBuffer>;
}

function fail(name: string, what: string): never {
  throw new Error(`${name}: ${what}`);
}

/** The value of `key` in the header dict, as its literal text. */
function headerField(header: string, key: string, name: string): string {
  const m = new RegExp(`['"]${key}['"]\\s*:\\s*('[^']*'|"[^"]*"|\\([^)]*\\)|True|False)`).exec(
    header,
  );
  if (!m) fail(name, `the .npy header has no '${key}' entry: ${header.trim()}`);
  return m[1];
}

/**
 * Parses a `.npy` file of float16/32/64 in C order into f32. Throws an
 * error naming `name` for a bad magic string, an unsupported version, dtype
 * or Fortran order, a malformed header, or a data size that does not match
 * the shape.
 */
export function readNpy(bytes: Uint8Array, name: string): NpyArray {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    fail(name, "not a NumPy .npy file (it does not start with \\x93NUMPY)");
  }
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number, headerStart: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) fail(name, "the .npy file is truncated in its header");
    headerLen = view.getUint32(8, true);
    headerStart = 12;
  } else {
    fail(name, `.npy format version ${major}.${bytes[7]} is not supported (1.0, 2.0, 3.0 are)`);
  }
  const dataStart = headerStart + headerLen;
  if (dataStart > bytes.length) fail(name, "the .npy file is truncated in its header");
  // v1/v2 headers are latin-1, v3 UTF-8; the fields we read are ASCII in all.
  const header = new TextDecoder(major === 3 ? "utf-8" : "latin1").decode(
    bytes.subarray(headerStart, dataStart),
  );

  const descr = headerField(header, "descr", name).slice(1, -1);
  const m = /^([<|=>]?)([a-zA-Z]\d+)$/.exec(descr);
  const size = m ? DTYPES[m[2]] : undefined;
  if (!m || !size || m[1] === ">" || (m[1] === "|" && size > 1)) {
    fail(
      name,
      `dtype '${descr}' is not supported; use little-endian float32 '<f4' (or '<f8', '<f2')`,
    );
  }
  if (headerField(header, "fortran_order", name) !== "False") {
    fail(name, "the array is in Fortran order; save it in C order (np.ascontiguousarray)");
  }
  const shapeText = headerField(header, "shape", name).slice(1, -1).trim();
  const shape = shapeText === ""
    ? []
    : shapeText.split(",").map((s) => s.trim()).filter((s) => s !== "").map(Number);
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    fail(name, `the .npy shape (${shapeText}) is not a list of sizes`);
  }
  const count = shape.reduce((a, b) => a * b, 1);
  const dataBytes = bytes.length - dataStart;
  if (dataBytes !== count * size) {
    fail(
      name,
      `shape (${shape.join(", ")}) of '${descr}' needs ${count * size} data bytes, the file has ` +
        `${dataBytes}${dataBytes < count * size ? " (truncated)" : ""}`,
    );
  }
  const data = new Float32Array(count);
  for (let i = 0, o = dataStart; i < count; i++, o += size) {
    data[i] = size === 4
      ? view.getFloat32(o, true)
      : size === 8
      ? view.getFloat64(o, true)
      : f16ToF32(view.getUint16(o, true));
  }
  return { shape, data };
}

/** A `.npy` v1.0 file of little-endian float32 in C order. */
export function writeNpy(data: Float32Array, shape: number[]): Uint8Array {
  const count = shape.reduce((a, b) => a * b, 1);
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0) || count !== data.length) {
    throw new Error(`writeNpy: shape [${shape.join(", ")}] does not hold ${data.length} values`);
  }
  const tuple = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  let dict = `{'descr': '<f4', 'fortran_order': False, 'shape': ${tuple}, }`;
  // As NumPy (≥ 1.24) writes it: room for the first axis to grow to 21
  // digits, then spaces up to a data start at a multiple of 64 bytes.
  if (shape.length > 0) dict += " ".repeat(Math.max(0, 21 - String(shape[0]).length));
  const unpadded = 10 + dict.length + 1;
  dict += " ".repeat((64 - unpadded % 64) % 64) + "\n";
  if (dict.length > 0xffff) {
    throw new Error(`writeNpy: shape [${shape.join(", ")}] header too long`);
  }
  const out = new Uint8Array(10 + dict.length + data.length * 4);
  out.set(MAGIC);
  out[6] = 1;
  out[7] = 0;
  const view = new DataView(out.buffer);
  view.setUint16(8, dict.length, true);
  for (let i = 0; i < dict.length; i++) out[10 + i] = dict.charCodeAt(i);
  const dataStart = 10 + dict.length;
  for (let i = 0; i < data.length; i++) view.setFloat32(dataStart + 4 * i, data[i], true);
  return out;
}

/**
 * Initial noise from a `.npy` file: shape `[tokens, channels]` or
 * `[1, tokens, channels]`, finite values; returned row-major.
 */
export function initNoiseFromNpy(
  bytes: Uint8Array,
  name: string,
  tokens: number,
  channels = TOKEN_CHANNELS,
): Float32Array<ArrayBuffer> {
  const { shape, data } = readNpy(bytes, name);
  const ok = (shape.length === 2 && shape[0] === tokens && shape[1] === channels) ||
    (shape.length === 3 && shape[0] === 1 && shape[1] === tokens && shape[2] === channels);
  if (!ok) {
    fail(
      name,
      `initial noise has shape (${shape.join(", ")}); this image size needs ` +
        `(${tokens}, ${channels}) or (1, ${tokens}, ${channels})`,
    );
  }
  const bad = data.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) fail(name, `initial noise value ${bad} is ${data[bad]}`);
  return data;
}
