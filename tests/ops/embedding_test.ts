import { f32ToBf16, f32ToF16 } from "../../src/dtype.ts";
import { Tensor } from "../../src/gpu/tensor.ts";
import { embedding, gatherRowsHost, type HostTableDType } from "../../src/ops/embedding.ts";
import { decodeTableRef, embeddingRef } from "../../src/ops/embedding_ref.ts";
import { assertEquals, assertRejects } from "../assert.ts";
import { actDTypes, assertClose, randn, rng, roundF16, testGpu, TOL } from "../util.ts";

const [V, D, L] = [13, 101, 37];

function randomIds(n: number, below: number, seed: number): Uint32Array {
  const r = rng(seed);
  return Uint32Array.from({ length: n }, () => Math.floor(r() * below));
}

Deno.test("embedding gathers rows on the GPU (u32 tensor and host ids)", async () => {
  const ctx = await testGpu();
  for (const dtype of actDTypes(ctx)) {
    let table = randn(V * D, 81);
    if (dtype === "f16") table = roundF16(table);
    const tt = Tensor.fromF32(ctx, table, [V, D], dtype, "table");
    const ids = randomIds(L, V, 82);
    ids[5] = V + 4; // out of range on the GPU: a zero row
    const tids = Tensor.upload(ctx, ids, [L], "u32", "ids");
    const a = embedding(ctx, tt, tids);
    assertEquals(a.shape, [L, D]);
    assertClose(await a.toF32(), embeddingRef(table, D, ids), TOL[dtype], `embedding ${dtype}`);
    const hostIds = [12, 0, 0, 7];
    const b = embedding(ctx, tt, hostIds);
    assertClose(await b.toF32(), embeddingRef(table, D, hostIds), TOL[dtype], `host ids ${dtype}`);
    await assertRejects(
      () => embedding(ctx, tt, [1, 13]),
      "'table'",
      "id 13 at position 1",
      "13 rows",
    );
    for (const t of [tt, tids, a, b]) t.release();
  }
});

/** A table's stored bytes in `dtype`, placed at byte `shift` of a larger buffer. */
function storedTable(values: Float32Array, dtype: HostTableDType, shift: number): Uint8Array {
  const size = dtype === "f32" ? 4 : 2;
  const bytes = new Uint8Array(values.length * size + shift).subarray(shift);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  values.forEach((v, i) => {
    if (dtype === "f32") dv.setFloat32(4 * i, v, true);
    else dv.setUint16(2 * i, dtype === "f16" ? f32ToF16(v) : f32ToBf16(v), true);
  });
  return bytes;
}

Deno.test("gatherRowsHost decodes only the requested rows (f32/f16/bf16, aligned or not)", () => {
  const values = randn(V * D, 91);
  const ids = randomIds(L, V, 92);
  for (const dtype of ["f32", "f16", "bf16"] as const) {
    for (const shift of [0, 1, 2]) {
      const bytes = storedTable(values, dtype, shift);
      const want = embeddingRef(decodeTableRef(bytes, dtype, V * D), D, ids);
      const got = gatherRowsHost(bytes, dtype, V, D, ids);
      assertEquals(Array.from(got), Array.from(want), `${dtype} at byte offset ${shift}`);
    }
  }
  assertEquals(
    Array.from(gatherRowsHost(values, "f32", V, D, [3])),
    Array.from(values.subarray(3 * D, 4 * D)),
  );
});

Deno.test("gatherRowsHost rejects out-of-range ids and short tables with clear errors", async () => {
  const values = randn(V * D, 93);
  await assertRejects(
    () => gatherRowsHost(values, "f32", V, D, [0, 13], "embed_tokens"),
    "embed_tokens",
    "id 13 at position 1",
    "13 rows",
  );
  await assertRejects(() => gatherRowsHost(values, "f32", V, D, [-1]), "id -1");
  await assertRejects(
    () => gatherRowsHost(values, "f32", V + 1, D, [0]),
    "hold less than [14, 101] f32",
  );
  await assertRejects(
    () => gatherRowsHost(values, "bf16", V, D, [0]),
    "Float32Array given for a bf16",
  );
});
