import { crc32, decodePngRgb, encodePng, readPngText } from "../../src/image/png.ts";
import { assert, assertEquals, assertRejects } from "../assert.ts";

Deno.test("png: RGB pixels round-trip exactly, text chunks (UTF-8) are readable", () => {
  const [w, h] = [37, 23];
  const rgb = new Uint8Array(w * h * 3);
  let a = 12345;
  for (let i = 0; i < rgb.length; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    rgb[i] = a >>> 24;
  }
  const text = { caption: '{"a":"猫 — ü"}', seed: "42", size: "37x23", preset: "V4_TURBO_12" };
  const png = encodePng(rgb, w, h, text);
  const back = decodePngRgb(png);
  assertEquals(back.width, w);
  assertEquals(back.height, h);
  assert(back.rgb.every((v, i) => v === rgb[i]), "pixels differ after decode");
  assertEquals(JSON.stringify(readPngText(png)), JSON.stringify(text));
});

Deno.test("png: crc32 matches the standard check value; bad input is a clear error", async () => {
  assertEquals(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
  await assertRejects(() => encodePng(new Uint8Array(10), 2, 2), "10 bytes for a 2x2 RGB image");
  await assertRejects(() => readPngText(new Uint8Array(20)), "not a PNG");
  await assertRejects(() => encodePng(new Uint8Array(12), 2, 2, { "": "x" }), "PNG text key");
});
