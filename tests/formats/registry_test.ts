/**
 * Every record of the format registry, driven through the same steps: write
 * random weights with the record's quantizer, read them back through
 * detection and loading, and check that its row slices, its GPU part split
 * and its CPU dequantizer agree with one another. A new format is covered
 * here by being in `LINEAR_FORMATS`.
 */
import {
  dequantizeRef,
  detectLinearFormat,
  formatOf,
  type HostLinear,
  hostLinearParts,
  LINEAR_FORMATS,
  sliceHostLinearRows,
} from "../../src/formats/mod.ts";
import { memorySource } from "../../src/io/byte_source.ts";
import { loadHostLinear, storedLinearShape } from "../../src/io/linear_loader.ts";
import { SafetensorsFile } from "../../src/io/safetensors.ts";
import { writeSafetensors } from "../../src/io/safetensors_writer.ts";
import { assert, assertEquals, assertThrows } from "../assert.ts";
import { randn, relErr } from "../util.ts";

/** Relative error each format's quantizer must stay under on N(0, 1/in) weights. */
const BOUND: Record<string, number> = { dense: 1e-7, nf4: 0.15, fp8: 0.04, int8: 0.02 };

async function roundTrip(
  format: typeof LINEAR_FORMATS[number],
  values: Float32Array,
  shape: [number, number],
): Promise<HostLinear> {
  const name = "blocks.0.proj.weight";
  const bytes = writeSafetensors(format.quantize(name, values, shape));
  const file = await SafetensorsFile.open(memorySource("w.safetensors", bytes));
  assertEquals(detectLinearFormat(file, name).name, format.name, "detected");
  assertEquals(await storedLinearShape(file, name), shape, "stored shape");
  return await loadHostLinear(file, name, shape);
}

for (const format of LINEAR_FORMATS) {
  Deno.test(`format ${format.name}: quantize → detect → load → dequantize`, async () => {
    const shape: [number, number] = [300, 64];
    const values = randn(shape[0] * shape[1], 7, 1 / 8);
    const w = await roundTrip(format, values, shape);
    assertEquals([w.format, w.out, w.in], [format.name, ...shape]);
    const deq = dequantizeRef(w);
    const err = relErr(deq, values);
    assert(err < BOUND[format.name], `${format.name}: relative error ${err}`);
    assert(err > 0 || format.name === "dense", "quantized formats lose something");
    // The bf16-reference decode never changes shape, and int8 / dense keep their values.
    const torch = formatOf(w).torchBf16(w);
    assertEquals([torch.format, torch.out, torch.in], [w.format, w.out, w.in]);
  });

  Deno.test(`format ${format.name}: row slices and GPU parts match the whole weight`, async () => {
    const shape: [number, number] = [600, 64];
    const values = randn(shape[0] * shape[1], 8, 1 / 8);
    const w = await roundTrip(format, values, shape);
    const whole = dequantizeRef(w);
    // A band on nf4-block boundaries: rows [256, 512).
    const band = sliceHostLinearRows(w, 256, 256, "band");
    assertEquals(dequantizeRef(band), whole.subarray(256 * 64, 512 * 64), "slice");
    // The last band.
    const tail = sliceHostLinearRows(w, 512, 88, "tail");
    assertEquals(dequantizeRef(tail), whole.subarray(512 * 64), "tail");
    assertThrows(() => sliceHostLinearRows(w, 590, 20, "past"), "past", "outside [0, 600)");
    // Parts under a binding limit of 300 rows' bytes: 256-row bands.
    const f = formatOf(w);
    const rowBytes = (w.in * f.bitsPerElement(w)) / 8;
    const parts = hostLinearParts(w, 300 * rowBytes, "p");
    assertEquals(parts.map((p) => [p.row0, p.rows]), [[0, 256], [256, 256], [512, 88]]);
    for (const p of parts) {
      const own = f.gpuArrays(f.sliceRows(w, p.row0, p.rows, "p"));
      assertEquals(p.weight, own.weight, `part ${p.row0} weight`);
      assertEquals(p.aux, own.aux, `part ${p.row0} aux`);
      assert(p.weight.byteLength <= 300 * rowBytes, "under the limit");
    }
    assertEquals(hostLinearParts(w, Infinity, "one").length, 1);
    assertThrows(() => hostLinearParts(w, 100 * rowBytes, "w"), "'w'", "exceed the buffer limit");
  });
}
