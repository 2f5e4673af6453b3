import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from "../../src/dtype.ts";
import { memorySource } from "../../src/io/byte_source.ts";
import { denseTensor } from "../../src/io/quantize.ts";
import { SafetensorsFile } from "../../src/io/safetensors.ts";
import { type TensorMap, writeSafetensors } from "../../src/io/safetensors_writer.ts";
import { ITEM_BYTES } from "../../src/io/tensor_store.ts";
import { assert, assertEquals, assertRejects } from "../assert.ts";
import { randn } from "../util.ts";
import { DENO_PLATFORMS, randomBytes, rawSafetensors, withTempDir } from "./io_util.ts";

/** One tensor of every dtype, odd shapes, plus a scalar and an empty tensor. */
function allDtypes(): { tensors: TensorMap; values: Record<string, Float32Array> } {
  const a = randn(37 * 5, 1), b = randn(3 * 7 * 11, 2), c = randn(13, 3);
  const tensors: TensorMap = {
    "u8.bytes": { dtype: "U8", shape: [29], data: randomBytes(29, 4) },
    "f16.w": denseTensor(b, [3, 7, 11], "F16"),
    "f32.w": denseTensor(a, [37, 5], "F32"),
    "i64.ids": { dtype: "I64", shape: [3, 3], data: randomBytes(72, 5) },
    "fp8.w": { dtype: "F8_E4M3", shape: [5, 3], data: randomBytes(15, 6) },
    "bf16.w": denseTensor(c, [13], "BF16"),
    "i32.pos": { dtype: "I32", shape: [7], data: randomBytes(28, 7) },
    "f32.scalar": denseTensor(Float32Array.of(2.5), [], "F32"),
    "f32.empty": denseTensor(new Float32Array(0), [0, 4], "F32"),
  };
  const values = {
    "f32.w": a,
    "f16.w": b.map((v) => f16ToF32(f32ToF16(v))),
    "bf16.w": c.map((v) => bf16ToF32(f32ToBf16(v))),
    "f32.scalar": Float32Array.of(2.5),
    "f32.empty": new Float32Array(0),
  };
  return { tensors, values };
}

async function checkRoundTrip(file: SafetensorsFile, expectName: string) {
  const { tensors, values } = allDtypes();
  assertEquals(file.name, expectName);
  assertEquals(file.names().sort(), Object.keys(tensors).sort());
  assertEquals(file.metadata, { format: "pt", note: "round trip" });
  for (const [name, t] of Object.entries(tensors)) {
    const info = file.info(name);
    assertEquals([info.dtype, info.shape], [t.dtype, t.shape], name);
    assert(info.byteOffset % ITEM_BYTES[t.dtype] === 0, `${name} aligned to its element size`);
    assertEquals(Array.from(await file.bytes(name)), Array.from(t.data), `${name} bytes`);
    if (values[name]) {
      assertEquals(Array.from(await file.f32(name)), Array.from(values[name]), `${name} f32`);
    }
  }
  await assertRejects(() => file.f32("u8.bytes"), expectName, "'u8.bytes'", "U8");
}

Deno.test("safetensors round trip in every dtype: memory, mmap and plain-read sources", async () => {
  const bytes = writeSafetensors(allDtypes().tensors, { format: "pt", note: "round trip" });
  const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assertEquals((8 + headerLen) % 8, 0, "data section 8-byte aligned");
  await checkRoundTrip(
    await SafetensorsFile.open(memorySource("mem.safetensors", bytes)),
    "mem.safetensors",
  );
  await withTempDir(async (dir) => {
    const path = `${dir}/all.safetensors`;
    await Deno.writeFile(path, bytes);
    for (const p of DENO_PLATFORMS) {
      const file = await SafetensorsFile.open(await p.open(path));
      await checkRoundTrip(file, path);
      file.close();
    }
  });
});

Deno.test("safetensors writer refuses data whose size does not match dtype and shape", () => {
  let msg = "";
  try {
    writeSafetensors({ "x.w": { dtype: "F32", shape: [2, 3], data: new Uint8Array(20) } });
  } catch (e) {
    msg = (e as Error).message;
  }
  assert(msg.includes("'x.w'") && msg.includes("24"), `got: ${msg}`);
});

// ---------------------------------------------------------------------------
// Error paths: each must name the file and, where there is one, the tensor.

const F = "bad.safetensors";
const open = (bytes: Uint8Array) => SafetensorsFile.open(memorySource(F, bytes));

Deno.test("safetensors: truncated file names the file and the tensor", async () => {
  const good = writeSafetensors({ "a.w": denseTensor(randn(64, 1), [8, 8]) });
  await assertRejects(() => open(good.slice(0, good.length - 10)), F, "'a.w'", "truncated");
  await assertRejects(() => open(good.slice(0, 5)), F, "too short");
});

Deno.test("safetensors: header length past the end or over the limit", async () => {
  const good = writeSafetensors({ "a.w": denseTensor(randn(4, 1), [4]) });
  const past = good.slice();
  new DataView(past.buffer).setBigUint64(0, BigInt(good.length), true);
  await assertRejects(() => open(past), F, "runs past the end");
  const huge = good.slice();
  new DataView(huge.buffer).setBigUint64(0, 1n << 40n, true);
  await assertRejects(() => open(huge), F, "limit");
});

Deno.test("safetensors: bad JSON and non-object header", async () => {
  const good = writeSafetensors({ "a.w": denseTensor(randn(4, 1), [4]) });
  const bad = good.slice();
  bad[8] = "[".charCodeAt(0); // `{` → `[`: no longer parses
  await assertRejects(() => open(bad), F, "not valid JSON");
  await assertRejects(() => open(rawSafetensors([1, 2], 0)), F, "not a JSON object");
  await assertRejects(
    () => open(rawSafetensors({ __metadata__: { n: 3 } }, 0)),
    F,
    "__metadata__",
  );
});

Deno.test("safetensors: unknown dtype, bad shape, bad offsets", async () => {
  await assertRejects(
    () => open(rawSafetensors({ "x.w": { dtype: "F64", shape: [2], data_offsets: [0, 16] } }, 16)),
    F,
    "'x.w'",
    "unsupported dtype",
    "F64",
  );
  await assertRejects(
    () =>
      open(rawSafetensors({ "x.w": { dtype: "F32", shape: [2, -1], data_offsets: [0, 8] } }, 8)),
    F,
    "'x.w'",
    "shape",
  );
  await assertRejects(
    () => open(rawSafetensors({ "x.w": { dtype: "F32", shape: [2], data_offsets: [8, 0] } }, 8)),
    F,
    "'x.w'",
    "data_offsets",
  );
});

Deno.test("safetensors: offsets out of range of the data section", async () => {
  await assertRejects(
    () => open(rawSafetensors({ "x.w": { dtype: "F32", shape: [4], data_offsets: [8, 24] } }, 16)),
    F,
    "'x.w'",
    "out of range",
  );
});

Deno.test("safetensors: overlapping tensors name both", async () => {
  const header = {
    "a.w": { dtype: "F32", shape: [4], data_offsets: [0, 16] },
    "b.w": { dtype: "F32", shape: [4], data_offsets: [12, 28] },
  };
  await assertRejects(() => open(rawSafetensors(header, 28)), F, "'a.w'", "'b.w'", "overlap");
});

Deno.test("safetensors: byte size that does not match dtype × shape", async () => {
  await assertRejects(
    () =>
      open(rawSafetensors({ "x.w": { dtype: "BF16", shape: [3, 3], data_offsets: [0, 16] } }, 16)),
    F,
    "'x.w'",
    "needs 18",
  );
});

Deno.test("safetensors: missing tensor names the file, the tensor and a close match", async () => {
  const file = await open(
    writeSafetensors({ "layers.0.attention.qkv.weight": denseTensor(randn(4, 1), [2, 2]) }),
  );
  await assertRejects(
    () => file.bytes("layers.0.attention.qkv.wieght"),
    F,
    "'layers.0.attention.qkv.wieght'",
    "did you mean 'layers.0.attention.qkv.weight'",
  );
  await assertRejects(() => file.f32("totally.other"), F, "'totally.other'");
});
