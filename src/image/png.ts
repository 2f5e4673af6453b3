/**
 * PNG output: RGB8 pixels encoded by `upng-js` (lossless, deflate via pako),
 * plus text chunks carrying how the image was made (caption, seed, size,
 * preset). Text goes in `iTXt` chunks (UTF-8, so captions in any script
 * survive), placed right after `IHDR` where readers look first.
 */
import UPNG from "upng-js";

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Encodes `rgb` (`width * height * 3` bytes, row-major) with the given text chunks. */
export function encodePng(
  rgb: Uint8Array,
  width: number,
  height: number,
  text: Record<string, string> = {},
): Uint8Array<ArrayBuffer> {
  if (rgb.length !== width * height * 3) {
    throw new Error(`encodePng: ${rgb.length} bytes for a ${width}x${height} RGB image`);
  }
  // upng-js takes RGBA frames; with an opaque alpha it writes an RGB (or, for
  // few colours, a lossless palette) PNG. `0` colours = lossless.
  const rgba = new Uint8Array(width * height * 4);
  for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
    rgba[j] = rgb[i];
    rgba[j + 1] = rgb[i + 1];
    rgba[j + 2] = rgb[i + 2];
    rgba[j + 3] = 255;
  }
  const png = new Uint8Array(UPNG.encode([rgba.buffer], width, height, 0));
  const chunks = Object.entries(text).map(([k, v]) => itxtChunk(k, v));
  // IHDR is always first: 8 signature + 4 length + 4 type + 13 data + 4 crc.
  const at = 33;
  const size = chunks.reduce((n, c) => n + c.length, png.length);
  const out = new Uint8Array(size);
  out.set(png.subarray(0, at));
  let o = at;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  out.set(png.subarray(at), o);
  return out;
}

/** The `tEXt` / `iTXt` key-value pairs of a PNG (uncompressed ones). */
export function readPngText(png: Uint8Array): Record<string, string> {
  checkSignature(png);
  const out: Record<string, string> = {};
  const dv = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const latin1 = new TextDecoder("latin1"), utf8 = new TextDecoder();
  for (let o = 8; o + 12 <= png.length;) {
    const len = dv.getUint32(o);
    const type = latin1.decode(png.subarray(o + 4, o + 8));
    const data = png.subarray(o + 8, o + 8 + len);
    if (type === "tEXt") {
      const z = data.indexOf(0);
      out[latin1.decode(data.subarray(0, z))] = latin1.decode(data.subarray(z + 1));
    } else if (type === "iTXt") {
      const z = data.indexOf(0);
      const key = latin1.decode(data.subarray(0, z));
      if (data[z + 1] === 0) { // not compressed
        let p = z + 3;
        p = data.indexOf(0, p) + 1; // language tag
        p = data.indexOf(0, p) + 1; // translated keyword
        out[key] = utf8.decode(data.subarray(p));
      }
    }
    if (type === "IEND") break;
    o += 12 + len;
  }
  return out;
}

/** Decodes a PNG to RGB8 (tests and tools). */
export function decodePngRgb(png: Uint8Array): { width: number; height: number; rgb: Uint8Array } {
  checkSignature(png);
  const img = UPNG.decode(png.slice().buffer);
  const rgba = new Uint8Array(UPNG.toRGBA8(img)[0]);
  const rgb = new Uint8Array(img.width * img.height * 3);
  for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
    rgb[i] = rgba[j];
    rgb[i + 1] = rgba[j + 1];
    rgb[i + 2] = rgba[j + 2];
  }
  return { width: img.width, height: img.height, rgb };
}

function checkSignature(png: Uint8Array): void {
  if (png.length < 8 || SIGNATURE.some((b, i) => png[i] !== b)) {
    throw new Error("not a PNG file (bad signature)");
  }
}

/** An `iTXt` chunk: keyword, no compression, empty language and translated keyword. */
function itxtChunk(key: string, value: string): Uint8Array {
  if (!/^[\x20-\x7e]{1,79}$/.test(key)) throw new Error(`PNG text key '${key}' is not 1-79 ASCII`);
  const k = new TextEncoder().encode(key), v = new TextEncoder().encode(value);
  const body = new Uint8Array(4 + k.length + 5 + v.length);
  body.set([0x69, 0x54, 0x58, 0x74]); // "iTXt"
  body.set(k, 4);
  // keyword NUL, compression flag 0, method 0, language NUL, translated keyword NUL.
  body.set(v, 4 + k.length + 5);
  const chunk = new Uint8Array(body.length + 8);
  const dv = new DataView(chunk.buffer);
  dv.setUint32(0, body.length - 4);
  chunk.set(body, 4);
  dv.setUint32(4 + body.length, crc32(body));
  return chunk;
}

let crcTable: Uint32Array | undefined;

/** CRC-32 (ISO 3309) as PNG chunks use it. */
export function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (const b of bytes) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
