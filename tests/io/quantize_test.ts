import { f32ToFp8e4m3, fp8e4m3ToF32 } from "../../src/dtype.ts";
import { memorySource } from "../../src/io/byte_source.ts";
import { dequantizeRef } from "../../src/formats/mod.ts";
import { int8Value, quantizeInt8, toInt8 } from "../../src/formats/int8.ts";
import { loadHostLinear } from "../../src/io/linear_loader.ts";
import { dynamicQuantMap, NF4_CODE, quantizeNf4, toFp8e4m3 } from "../../src/io/quantize.ts";
import { SafetensorsFile } from "../../src/io/safetensors.ts";
import {
  type TensorMap,
  writeSafetensors,
  writeShardedSafetensors,
} from "../../src/io/safetensors_writer.ts";
import { assert, assertEquals } from "../assert.ts";
import { randn, relErr } from "../util.ts";

Deno.test("toFp8e4m3 matches the reference encoder, ties and saturation included", () => {
  const values: number[] = [
    0,
    -0,
    448,
    -448,
    449,
    1e6,
    -Infinity,
    Infinity,
    2 ** -9,
    2 ** -10,
    1e-5,
  ];
  for (let b = 0; b < 126; b++) {
    const [lo, hi] = [fp8e4m3ToF32(b), fp8e4m3ToF32(b + 1)];
    values.push(lo, (lo + hi) / 2, -(lo + hi) / 2, Math.fround(lo * 0.75 + hi * 0.25));
  }
  for (const v of randn(2000, 5, 60)) values.push(v);
  for (const v of values) assertEquals(toFp8e4m3(v), f32ToFp8e4m3(v), `value ${v}`);
  assertEquals(toFp8e4m3(NaN), 0x7f);
});

Deno.test("dynamicQuantMap is bitsandbytes' signed 8-bit map: 256 sorted values in [-1, 1]", () => {
  const m = dynamicQuantMap();
  assertEquals(m.length, 256);
  assert(m.every((v, i) => i === 0 || v > m[i - 1]), "strictly increasing");
  assertEquals([m[0] > -1, m[255], m.includes(0)], [true, 1, true]);
  // Symmetric apart from the extra +1.
  for (let i = 0; i < 127; i++) assertEquals(m[i], -m[254 - i], `pair ${i}`);
});

Deno.test("quantizeNf4: the code book, the packing order and an all-zero block", async () => {
  assertEquals(NF4_CODE.length, 16);
  // Values exactly on codes (absmax 1 per block): codes come back exactly, high nibble first.
  const values = new Float32Array(128);
  for (let i = 0; i < 64; i++) values[i] = NF4_CODE[i % 16];
  values[0] = 1; // block absmax stays 1
  const t = quantizeNf4("w", values, [2, 64]); // second block all zero
  assertEquals(t.w.data[1], (NF4_CODE.indexOf(values[2]) << 4) | NF4_CODE.indexOf(values[3]));
  assertEquals(t.w.shape, [64, 1]);
  const file = await SafetensorsFile.open(memorySource("q.safetensors", writeSafetensors(t)));
  const deq = dequantizeRef(await loadHostLinear(file, "w", [2, 64]));
  assertEquals(Array.from(deq), Array.from(values));
});

Deno.test("quantizeInt8: ties to even, ±127, zero rows; quantize → dequantize within half a step", async () => {
  assertEquals([0.5, 1.5, 2.5, -0.5, -1.5, 126.5, 127.2, -130, 3.49].map(toInt8).map(int8Value), [
    0,
    2,
    2,
    0,
    -2,
    126,
    127,
    -127,
    3,
  ]);
  assertEquals([int8Value(0x80), int8Value(0xff), int8Value(0x7f)], [-128, -1, 127]);
  const [out, inF] = [23, 77];
  const values = randn(out * inF, 31, 0.3);
  values.fill(0, 5 * inF, 6 * inF); // an all-zero row stays zero
  values[7 * inF + 3] = 40; // an outlier only coarsens its own row
  const t = quantizeInt8("w", values, [out, inF]);
  const file = await SafetensorsFile.open(memorySource("q.safetensors", writeSafetensors(t)));
  const w = await loadHostLinear(file, "w", [out, inF]);
  assert(w.format === "int8", "detected as int8");
  const deq = dequantizeRef(w);
  for (let r = 0; r < out; r++) {
    const row = values.subarray(r * inF, (r + 1) * inF);
    const step = Math.max(...row.map(Math.abs)) / 127;
    for (let c = 0; c < inF; c++) {
      const i = r * inF + c;
      assert(Math.abs(deq[i] - values[i]) <= step / 2 * (1 + 1e-6) + 1e-12, `element ${i}`);
    }
  }
  assert(deq.subarray(5 * inF, 6 * inF).every((v) => v === 0), "zero row");
  const others = (a: Float32Array) => a.filter((_, i) => Math.floor(i / inF) !== 7);
  const err = relErr(others(deq), others(values));
  assert(err < 0.01, `relative error ${err} (a uniform 1/254 step)`);
});

Deno.test("writer: header padded with spaces to 8 bytes, tensors back to back, aligned", () => {
  const tensors: TensorMap = {
    "b": { dtype: "U8", shape: [3], data: new Uint8Array([1, 2, 3]) },
    "a": { dtype: "I64", shape: [1], data: new Uint8Array(8).fill(9) },
    "c": { dtype: "F16", shape: [3], data: new Uint8Array(6).fill(4) },
  };
  const bytes = writeSafetensors(tensors, { k: "v" });
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assertEquals(n % 8, 0);
  const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
  assert(/^\{.*\} *$/.test(text), "JSON then spaces");
  const header = JSON.parse(text);
  assertEquals(header.__metadata__, { k: "v" });
  const spans = ["a", "c", "b"].map((k) => header[k].data_offsets);
  assertEquals(spans, [[0, 8], [8, 14], [14, 17]]);
  assertEquals(bytes.length, 8 + n + 17);
});

Deno.test("writer: sharding gives every shard tensors and an index with the total size", () => {
  const tensors: TensorMap = {};
  for (let i = 0; i < 7; i++) {
    tensors[`t${i}`] = {
      dtype: "U8",
      shape: [10 * (i + 1) ** 2],
      data: new Uint8Array(10 * (i + 1) ** 2),
    };
  }
  for (const shards of [1, 2, 3, 7]) {
    const files = writeShardedSafetensors(tensors, { stem: "s", shards });
    const index = JSON.parse(new TextDecoder().decode(files.get("s.safetensors.index.json")));
    const used = new Set(Object.values(index.weight_map));
    assertEquals([files.size, used.size], [shards + 1, shards], `${shards} shards`);
    assertEquals(Object.keys(index.weight_map), Object.keys(tensors));
    assertEquals(
      index.metadata.total_size,
      Object.values(tensors).reduce((s, t) => s + t.data.length, 0),
    );
    assert(
      used.has(
        `s-${String(shards).padStart(5, "0")}-of-${String(shards).padStart(5, "0")}.safetensors`,
      ),
    );
  }
});
