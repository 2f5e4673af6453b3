import { f16ToF32, f32ToF16 } from "../../src/dtype.ts";
import { initNoiseFromNpy, readNpy, writeNpy } from "../../src/pipeline/npy.ts";
import { assertEquals, assertRejects } from "../assert.ts";

const b64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

// Written by NumPy 2.4 (`np.save` / `np.lib.format.write_array`).
const NP_F4_2X3 = b64(
  "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDMpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAACDAAADAvwAAAL8AAAA/AADAPwAAIEA=",
);
const NP_V2_F8_2X2 = b64(
  "k05VTVBZAgB0AAAAeydkZXNjcic6ICc8ZjgnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMiwgMiksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAAD4PwAAAAAAAALAAAAAAAAACED8qfHSTWJQPw==",
);
const NP_F2_3 = b64(
  "k05VTVBZAQB2AHsnZGVzY3InOiAnPGYyJywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDMsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAOP/7jgY=",
);
const NP_FORTRAN = b64(
  "k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBUcnVlLCAnc2hhcGUnOiAoMiwgMiksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAIA/AABAQAAAAEAAAIBA",
);

/** A .npy file built by hand: any version, header text and data bytes. */
function npy(major: number, header: string, data: Uint8Array): Uint8Array {
  const text = new TextEncoder().encode(header);
  const lenBytes = major === 1 ? 2 : 4;
  const out = new Uint8Array(8 + lenBytes + text.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, text.length, true);
  else view.setUint32(8, text.length, true);
  out.set(text, 8 + lenBytes);
  out.set(data, 8 + lenBytes + text.length);
  return out;
}

const f32Bytes = (v: number[]) => new Uint8Array(new Float32Array(v).buffer);

Deno.test("writeNpy writes exactly what NumPy writes; readNpy reads it back", () => {
  const data = new Float32Array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5]);
  const bytes = writeNpy(data, [2, 3]);
  assertEquals(Array.from(bytes), Array.from(NP_F4_2X3));
  assertEquals(readNpy(bytes, "a.npy"), { shape: [2, 3], data });
  for (const shape of [[6], [1, 6, 1], []]) {
    const d = shape.length ? data : new Float32Array([7]);
    const back = readNpy(writeNpy(d, shape), "b.npy");
    assertEquals(back.shape, shape);
    assertEquals(Array.from(back.data), Array.from(d));
  }
});

Deno.test("readNpy: hand-built v1 and v3 headers, a NumPy v2 f8 file, f2 values", () => {
  const v1 = npy(
    1,
    "{'shape': (3,), 'fortran_order': False, 'descr': '<f4'}\n",
    f32Bytes([1, -2, 3]),
  );
  assertEquals(readNpy(v1, "v1.npy"), { shape: [3], data: new Float32Array([1, -2, 3]) });
  const v3 = npy(
    3,
    '{"descr": "<f4", "fortran_order": False, "shape": (1, 2), } \n',
    f32Bytes([4, 5]),
  );
  assertEquals(readNpy(v3, "v3.npy"), { shape: [1, 2], data: new Float32Array([4, 5]) });
  // Data at an odd offset in a larger buffer.
  const shifted = new Uint8Array(v1.length + 1);
  shifted.set(v1, 1);
  assertEquals(Array.from(readNpy(shifted.subarray(1), "odd.npy").data), [1, -2, 3]);

  assertEquals(readNpy(NP_V2_F8_2X2, "v2.npy"), {
    shape: [2, 2],
    data: new Float32Array([1.5, -2.25, 3.0, 1e-3]),
  });
  const half = readNpy(NP_F2_3, "half.npy");
  assertEquals(half.shape, [3]);
  assertEquals(Array.from(half.data), [0.5, -65504, f16ToF32(f32ToF16(1e-4))]);
});

Deno.test("readNpy: each kind of bad file gets an error naming it", async () => {
  const good = writeNpy(new Float32Array([1, 2, 3, 4]), [4]);
  await assertRejects(
    () => readNpy(new TextEncoder().encode("PK\x03\x04 zip"), "x.npz"),
    "x.npz",
    "not a NumPy",
  );
  await assertRejects(
    () => readNpy(good.subarray(0, good.length - 1), "t.npy"),
    "t.npy",
    "16",
    "15",
    "truncated",
  );
  await assertRejects(
    () => readNpy(good.subarray(0, 40), "h.npy"),
    "h.npy",
    "truncated in its header",
  );
  const extra = new Uint8Array(good.length + 4);
  extra.set(good);
  await assertRejects(() => readNpy(extra, "e.npy"), "e.npy", "the file has 20");
  await assertRejects(() => readNpy(NP_FORTRAN, "f.npy"), "f.npy", "Fortran order");
  for (const descr of ["<i4", ">f4", "<c8", "|u1", "<f16"]) {
    const bad = npy(
      1,
      `{'descr': '${descr}', 'fortran_order': False, 'shape': (1,), }\n`,
      new Uint8Array(4),
    );
    await assertRejects(() => readNpy(bad, "d.npy"), "d.npy", `dtype '${descr}'`, "'<f4'");
  }
  const v9 = good.slice();
  v9[6] = 9;
  await assertRejects(() => readNpy(v9, "v.npy"), "v.npy", "version 9.0");
  const noShape = npy(1, "{'descr': '<f4', 'fortran_order': False}\n", new Uint8Array(4));
  await assertRejects(() => readNpy(noShape, "s.npy"), "s.npy", "no 'shape'");
});

Deno.test("initNoiseFromNpy accepts [tokens, 128] and [1, tokens, 128] only", async () => {
  const tokens = 3;
  const v = new Float32Array(tokens * 128).map((_, i) => Math.sin(i));
  assertEquals(Array.from(initNoiseFromNpy(writeNpy(v, [3, 128]), "n.npy", tokens)), Array.from(v));
  assertEquals(
    Array.from(initNoiseFromNpy(writeNpy(v, [1, 3, 128]), "n.npy", tokens)),
    Array.from(v),
  );
  assertEquals(initNoiseFromNpy(writeNpy(v, [12, 32]), "n.npy", 12, 32).length, 384);
  for (const shape of [[384], [128, 3], [2, 3, 64], [3, 128, 1]]) {
    await assertRejects(
      () => initNoiseFromNpy(writeNpy(v, shape), "n.npy", tokens),
      "n.npy",
      `(${shape.join(", ")})`,
      "(3, 128) or (1, 3, 128)",
    );
  }
  const nan = v.slice();
  nan[200] = NaN;
  await assertRejects(
    () => initNoiseFromNpy(writeNpy(nan, [3, 128]), "n.npy", tokens),
    "value 200 is NaN",
  );
});
