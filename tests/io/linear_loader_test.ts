import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from "../../src/dtype.ts";
import { memorySource } from "../../src/io/byte_source.ts";
import { Checkpoint } from "../../src/io/checkpoint.ts";
import { dequantizeRef, type HostLinear } from "../../src/formats/mod.ts";
import { linearFormat, loadHostLinear, loadHostTensorF32 } from "../../src/io/linear_loader.ts";
import { denseTensor, quantizeFp8, quantizeLinear, quantizeNf4 } from "../../src/io/quantize.ts";
import { SafetensorsFile } from "../../src/io/safetensors.ts";
import {
  type TensorMap,
  type WriterTensor,
  writeSafetensors,
} from "../../src/io/safetensors_writer.ts";
import { assert, assertEquals, assertRejects } from "../assert.ts";
import { randn, relErr } from "../util.ts";
import { mmapPlatform, withTempDir } from "./io_util.ts";

const [OUT, IN] = [37, 75]; // n = 2775: odd, and the last 64-block is short
const BIG: [number, number] = [101, 300]; // 474 blocks: two nested blocks of 256
const W = randn(OUT * IN, 21, 0.05);
const WB = randn(BIG[0] * BIG[1], 22, 0.02);

// Written here independently of src/: bitsandbytes' NF4 code book and the e4m3fn decoder.
const NF4 = [
  -1.0,
  -0.6961928009986877,
  -0.5250730514526367,
  -0.39491748809814453,
  -0.28444138169288635,
  -0.18477343022823334,
  -0.09105003625154495,
  0.0,
  0.07958029955625534,
  0.16093020141124725,
  0.24611230194568634,
  0.33791524171829224,
  0.44070982933044434,
  0.5626170039176941,
  0.7229568362236023,
  1.0,
];
const e4m3 = (b: number) => {
  const s = b & 0x80 ? -1 : 1, e = (b >> 3) & 15, m = b & 7;
  return e === 0 ? s * m * 2 ** -9 : s * (8 + m) * 2 ** (e - 10);
};
const f32At = (t: WriterTensor, i: number) =>
  new DataView(t.data.buffer, t.data.byteOffset).getFloat32(4 * i, true);
/** Largest |x − nearest NF4 code| for x in [-1, 1]: half the widest gap (−1 … −0.696). */
const NF4_HALF_GAP = Math.max(...NF4.slice(1).map((v, i) => v - NF4[i])) / 2;

function model(): TensorMap {
  return {
    "dense32.weight": denseTensor(W, [OUT, IN], "F32"),
    "dense16.weight": denseTensor(W, [OUT, IN], "F16"),
    "densebf.weight": denseTensor(W, [OUT, IN], "BF16"),
    ...quantizeNf4("layers.0.attention.qkv.weight", W, [OUT, IN]),
    ...quantizeNf4("layers.1.attention.qkv.weight", WB, BIG, { doubleQuant: true }),
    ...quantizeNf4("layers.2.attention.qkv.weight", W, [OUT, IN], {
      doubleQuant: true,
      nestedBlocksize: 16,
    }),
    ...quantizeFp8("layers.0.mlp.w1.weight", W, [OUT, IN]),
    ...quantizeLinear("int8", "layers.0.mlp.w2.weight", W, [OUT, IN]),
    "norm.weight": denseTensor(W.subarray(0, IN), [IN], "F16"),
  };
}

async function withModel(
  fn: (ckpt: Checkpoint, tensors: TensorMap, fileSize: number) => Promise<void>,
) {
  await withTempDir(async (dir) => {
    const tensors = model();
    const bytes = writeSafetensors(tensors);
    await Deno.writeFile(`${dir}/model.safetensors`, bytes);
    const ckpt = await Checkpoint.open(dir, { stem: "model", platform: mmapPlatform });
    try {
      await fn(ckpt, tensors, bytes.length);
    } finally {
      ckpt.close();
    }
  });
}

Deno.test("loadHostLinear: dense F32 / F16 / BF16 are zero-copy views that decode exactly", async () => {
  await withModel(async (ckpt, _t, fileSize) => {
    const round = {
      f32: (v: number) => v,
      f16: (v: number) => f16ToF32(f32ToF16(v)),
      bf16: (v: number) => bf16ToF32(f32ToBf16(v)),
    };
    for (
      const [name, dtype] of [["dense32", "f32"], ["dense16", "f16"], ["densebf", "bf16"]] as const
    ) {
      const w = await loadHostLinear(ckpt, `${name}.weight`, [OUT, IN]);
      assert(w.format === "dense" && w.dtype === dtype && w.out === OUT && w.in === IN, name);
      assertEquals(w.bytes.buffer.byteLength, fileSize, `${name}: view over the mapped file`);
      assertEquals(Array.from(dequantizeRef(w)), Array.from(W, round[dtype]), name);
    }
  });
});

/** Checks `w` against the original values: per-element NF4 error bound and overall relative error. */
function checkNf4Error(w: HostLinear, orig: Float32Array, blocksize: number, what: string): number {
  assert(w.format === "nf4", what);
  const deq = dequantizeRef(w);
  for (let b = 0; b * blocksize < orig.length; b++) {
    const block = orig.subarray(b * blocksize, (b + 1) * blocksize);
    const trueAbsmax = block.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const a = w.absmax[b];
    // |code·a − x| ≤ |code − x/A|·a + |x/A|·|a − A| with |x/A| ≤ 1.
    const bound = (NF4_HALF_GAP * a + Math.abs(a - trueAbsmax)) * (1 + 1e-6);
    for (let i = 0; i < block.length; i++) {
      const err = Math.abs(deq[b * blocksize + i] - block[i]);
      assert(err <= bound, `${what}: element ${b * blocksize + i} off by ${err} > ${bound}`);
    }
  }
  return relErr(deq, orig);
}

Deno.test("loadHostLinear: nf4 dequantizes within NF4 error and exactly as a direct decode", async () => {
  await withModel(async (ckpt, t, fileSize) => {
    const name = "layers.0.attention.qkv.weight";
    const w = await loadHostLinear(ckpt, name, [OUT, IN]);
    assert(w.format === "nf4" && w.blocksize === 64, "nf4");
    assertEquals(w.packed.buffer.byteLength, fileSize, "packed bytes are a view over the mapping");
    assertEquals([w.packed.length, w.absmax.length], [
      Math.ceil((OUT * IN) / 2),
      Math.ceil((OUT * IN) / 64),
    ]);
    const err = checkNf4Error(w, W, 64, "nf4");
    assert(err < 0.12, `nf4 relative error ${err}`);
    const deq = dequantizeRef(w);
    // Every value got the nearest code to value / absmax.
    for (let i = 0; i < OUT * IN; i++) {
      const byte = t[name].data[i >> 1];
      const code = NF4[(i & 1) ? byte & 15 : byte >> 4];
      const x = W[i] / w.absmax[Math.floor(i / 64)];
      const best = Math.min(...NF4.map((c) => Math.abs(c - x)));
      assert(
        Math.abs(code - x) <= best + 1e-6,
        `element ${i}: code ${code} is not nearest to ${x}`,
      );
    }
    for (const i of [0, 1, 63, 64, 1000, 1001, OUT * IN - 2, OUT * IN - 1]) {
      const byte = t[name].data[i >> 1];
      const code = NF4[(i & 1) ? byte & 15 : byte >> 4];
      assertEquals(
        deq[i],
        Math.fround(code * f32At(t[`${name}.absmax`], Math.floor(i / 64))),
        `position ${i}`,
      );
    }
  });
});

Deno.test("loadHostLinear: double-quantized nf4 resolves absmax exactly (spec §2)", async () => {
  await withModel(async (ckpt, t) => {
    for (const [layer, orig, shape, nbs] of [[1, WB, BIG, 256], [2, W, [OUT, IN], 16]] as const) {
      const name = `layers.${layer}.attention.qkv.weight`;
      const w = await loadHostLinear(ckpt, name, shape);
      assert(w.format === "nf4", name);
      const state = JSON.parse(
        new TextDecoder().decode(t[`${name}.quant_state.bitsandbytes__nf4`].data),
      );
      assertEquals([state.quant_type, state.nested_blocksize, t[`${name}.absmax`].dtype], [
        "nf4",
        nbs,
        "U8",
      ]);
      const blocks = Math.ceil((shape[0] * shape[1]) / 64);
      assert(Math.ceil(blocks / nbs) >= 2, "several nested blocks exercised");
      for (const b of [0, 1, nbs - 1, nbs, blocks - 1]) {
        const q = t[`${name}.absmax`].data[b];
        const direct = Math.fround(
          Math.fround(
            f32At(t[`${name}.nested_quant_map`], q) *
              f32At(t[`${name}.nested_absmax`], Math.floor(b / nbs)),
          ) +
            Math.fround(state.nested_offset),
        );
        assertEquals(w.absmax[b], direct, `${name} absmax[${b}]`);
      }
      const deq = dequantizeRef(w);
      for (const i of [0, 77, shape[0] * shape[1] - 1]) {
        const byte = t[name].data[i >> 1];
        assertEquals(
          deq[i],
          Math.fround(NF4[(i & 1) ? byte & 15 : byte >> 4] * w.absmax[Math.floor(i / 64)]),
        );
      }
      const err = checkNf4Error(w, orig, 64, name);
      assert(err < 0.13, `${name} relative error ${err}`);
    }
  });
});

Deno.test("loadHostLinear: fp8 dequantizes within e4m3 rounding and exactly as a direct decode", async () => {
  await withModel(async (ckpt, t, fileSize) => {
    const name = "layers.0.mlp.w1.weight";
    const w = await loadHostLinear(ckpt, name, [OUT, IN]);
    assert(w.format === "fp8", "fp8");
    assertEquals(w.bytes.buffer.byteLength, fileSize, "fp8 bytes are a view over the mapping");
    const deq = dequantizeRef(w);
    for (let i = 0; i < OUT * IN; i++) {
      const s = w.scale[Math.floor(i / IN)];
      // Half an e4m3 step: 2^-4 relative for normals, 2^-10 · scale absolute for subnormals.
      const bound = Math.max(Math.abs(W[i]) * 2 ** -4, 2 ** -10 * s) * (1 + 1e-6);
      assert(Math.abs(deq[i] - W[i]) <= bound, `fp8 element ${i}`);
    }
    const err = relErr(deq, W);
    assert(err < 0.04, `fp8 relative error ${err}`);
    for (const i of [0, IN - 1, IN, 1234, OUT * IN - 1]) {
      const direct = Math.fround(
        e4m3(t[name].data[i]) * f32At(t[`${name}_scale`], Math.floor(i / IN)),
      );
      assertEquals(deq[i], direct, `position ${i}`);
    }
    // Each row's largest |value| maps onto ±448.
    const row0 = Array.from(t[name].data.subarray(0, IN), (b) => Math.abs(e4m3(b)));
    assertEquals(Math.max(...row0), 448);
  });
});

Deno.test("loadHostLinear: int8 is detected from I8 + weight_scale and decodes as q · scale", async () => {
  await withModel(async (ckpt, t, fileSize) => {
    const name = "layers.0.mlp.w2.weight";
    assertEquals([t[name].dtype, t[`${name}_scale`].dtype], ["I8", "F32"], "the stored layout");
    assertEquals(t[`${name}_scale`].shape, [OUT]);
    assertEquals(linearFormat(ckpt, name), "int8");
    const w = await loadHostLinear(ckpt, name, [OUT, IN]);
    assert(w.format === "int8" && w.out === OUT && w.in === IN, "int8");
    assertEquals(w.bytes.buffer.byteLength, fileSize, "int8 bytes are a view over the mapping");
    // torchBf16 leaves int8 as it is (no bf16 reference variant).
    assertEquals(await loadHostLinear(ckpt, name, [OUT, IN], { torchBf16: true }), w);
    const deq = dequantizeRef(w);
    for (let i = 0; i < OUT * IN; i++) {
      const s = f32At(t[`${name}_scale`], Math.floor(i / IN));
      const q = (t[name].data[i] << 24) >> 24; // two's complement, written out here
      assertEquals(deq[i], Math.fround(q * s), `element ${i}`);
      // Rounding to the nearest step: within half a step of the original.
      assert(Math.abs(deq[i] - W[i]) <= (s / 2) * (1 + 1e-6), `int8 element ${i}`);
    }
    // Each row's largest |value| maps onto ±127; -128 is never written.
    for (let r = 0; r < OUT; r++) {
      const row = Array.from(t[name].data.subarray(r * IN, (r + 1) * IN), (b) => (b << 24) >> 24);
      assertEquals(Math.max(...row.map(Math.abs)), 127, `row ${r}`);
    }
    const err = relErr(deq, W);
    assert(err < 0.01, `int8 relative error ${err}`);
  });
});

Deno.test("loadHostLinear torchBf16: fp8 as bf16(e4m3 · bf16(scale)), nf4 as bf16(code · absmax)", async () => {
  await withModel(async (ckpt, t) => {
    const name = "layers.0.mlp.w1.weight";
    const exact = await loadHostLinear(ckpt, name, [OUT, IN]);
    const w = await loadHostLinear(ckpt, name, [OUT, IN], { torchBf16: true });
    assert(w.format === "fp8" && w.torchBf16 === true, "flagged");
    assert(exact.format === "fp8" && !exact.torchBf16, "off by default");
    // Written out by hand: round to nearest even at bit 16 of the f32 pattern.
    const bf16 = (v: number) => {
      const u = new Uint32Array(new Float32Array([v]).buffer)[0];
      const r = ((u + 0x7fff + ((u >>> 16) & 1)) & 0xffff0000) >>> 0;
      return new Float32Array(new Uint32Array([r]).buffer)[0];
    };
    const scales = Array.from({ length: OUT }, (_, r) => f32At(t[`${name}_scale`], r));
    assertEquals(Array.from(w.scale), scales.map(bf16), "row scales rounded to bf16");
    assertEquals(Array.from(exact.scale), scales, "the exact load keeps the file's scales");
    assert(scales.some((s) => s !== bf16(s)), "the tiny scales are not all bf16 already");
    const deq = dequantizeRef(w);
    let rounded = 0;
    for (let i = 0; i < OUT * IN; i++) {
      const product = Math.fround(e4m3(t[name].data[i]) * bf16(scales[Math.floor(i / IN)]));
      assertEquals(deq[i], bf16(product), `element ${i}`);
      if (product !== bf16(product)) rounded++;
    }
    assert(rounded > 0, "some products need the second rounding");
    // nf4: bitsandbytes dequantizes into bf16; the absmax stays f32.
    for (const nf4 of ["layers.0.attention.qkv.weight", "layers.2.attention.qkv.weight"]) {
      const raw = await loadHostLinear(ckpt, nf4, [OUT, IN]);
      const parity = await loadHostLinear(ckpt, nf4, [OUT, IN], { torchBf16: true });
      assert(parity.format === "nf4" && parity.torchBf16 === true, "nf4 flagged");
      const exactValues = dequantizeRef(raw), parityValues = dequantizeRef(parity);
      let changed = 0;
      for (let i = 0; i < OUT * IN; i++) {
        assertEquals(parityValues[i], bf16(exactValues[i]), `${nf4} element ${i}`);
        if (parityValues[i] !== exactValues[i]) changed++;
      }
      assert(changed > 0, `${nf4}: some nf4 values change`);
    }
  });
});

Deno.test("loadHostTensorF32: decodes norms and checks the shape", async () => {
  await withModel(async (ckpt) => {
    const norm = await loadHostTensorF32(ckpt, "norm.weight", [IN]);
    assertEquals(norm.shape, [IN]);
    assertEquals(
      Array.from(norm.data),
      Array.from(W.subarray(0, IN), (v) => f16ToF32(f32ToF16(v))),
    );
    await assertRejects(
      () => loadHostTensorF32(ckpt, "norm.weight", [IN, 1]),
      "model.safetensors",
      "'norm.weight'",
      "[75, 1]",
    );
  });
});

// ---------------------------------------------------------------------------
// Errors

const FILE = "err.safetensors";
async function store(tensors: TensorMap): Promise<Checkpoint> {
  return Checkpoint.fromFiles(FILE, [
    await SafetensorsFile.open(memorySource(FILE, writeSafetensors(tensors))),
  ]);
}
const withState = (
  name: string,
  base: TensorMap,
  edit: (s: Record<string, unknown>) => void,
): TensorMap => {
  const key = `${name}.quant_state.bitsandbytes__nf4`;
  const s = JSON.parse(new TextDecoder().decode(base[key].data));
  edit(s);
  const data = new TextEncoder().encode(JSON.stringify(s));
  return { ...base, [key]: { dtype: "U8", shape: [data.length], data } };
};

Deno.test("loadHostLinear errors: wrong shape names the file, tensor, expected and got", async () => {
  await withModel(async (ckpt) => {
    for (
      const name of [
        "dense32.weight",
        "layers.0.attention.qkv.weight",
        "layers.0.mlp.w1.weight",
        "layers.0.mlp.w2.weight",
      ]
    ) {
      await assertRejects(
        () => loadHostLinear(ckpt, name, [IN, OUT]),
        "model.safetensors",
        `'${name}'`,
        "[75, 37]",
        "[37, 75]",
      );
    }
    await assertRejects(
      () => loadHostLinear(ckpt, "dense32.wieght"),
      "did you mean 'dense32.weight'",
    );
    await assertRejects(() => loadHostLinear(ckpt, "norm.weight"), "'norm.weight'", "[out, in]");
  });
});

Deno.test("loadHostLinear errors: broken nf4, fp8 and int8 tensor sets", async () => {
  const n = "a.weight";
  const nf4 = quantizeNf4(n, W, [OUT, IN]);
  const dq = quantizeNf4(n, W, [OUT, IN], { doubleQuant: true });
  const fp8 = quantizeFp8(n, W, [OUT, IN]);
  const int8 = quantizeLinear("int8", n, W, [OUT, IN]);
  const without = (m: TensorMap, key: string) =>
    Object.fromEntries(Object.entries(m).filter(([k]) => k !== key));

  const cases: [TensorMap, string[]][] = [
    [without(fp8, `${n}_scale`), ["'a.weight_scale'", "missing"]],
    [{ ...fp8, [`${n}_scale`]: denseTensor(new Float32Array(OUT + 1), [OUT + 1]) }, [
      "'a.weight_scale'",
      "38",
    ]],
    [without(int8, `${n}_scale`), ["'a.weight_scale'", "missing"]],
    [{ ...int8, [`${n}_scale`]: denseTensor(new Float32Array(OUT), [1, OUT]) }, [
      "'a.weight_scale'",
      "[1, 37]",
      "expected [37]",
    ]],
    [{ [n]: { dtype: "I32", shape: [OUT, IN], data: new Uint8Array(4 * OUT * IN) } }, [
      "'a.weight'",
      "I32",
      "not a Linear weight format",
    ]],
    [{ [n]: nf4[n] }, ["'a.weight'", "U8", "no bitsandbytes quant state"]],
    [{
      [n]: nf4[n],
      [`${n}.quant_state.bitsandbytes__fp4`]: nf4[`${n}.quant_state.bitsandbytes__nf4`],
    }, ["fp4"]],
    [withState(n, nf4, (s) => s.quant_type = "fp4"), ["quant_type", '"fp4"']],
    [withState(n, nf4, (s) => s.shape = [OUT, IN + 2]), ["'a.weight'", "bytes", "packs into"]],
    [withState(n, nf4, (s) => s.blocksize = 0), ["blocksize"]],
    [withState(n, nf4, (s) => s.blocksize = 32), ["'a.weight.absmax'", "needs 87"]],
    [{
      ...nf4,
      [`${n}.quant_state.bitsandbytes__nf4`]: {
        dtype: "U8",
        shape: [3],
        data: new Uint8Array([123, 34, 113]),
      },
    }, ["not valid JSON"]],
    [without(nf4, `${n}.absmax`), ["'a.weight.absmax'", "missing"]],
    [without(nf4, `${n}.quant_map`), ["'a.weight.quant_map'", "missing"]],
    [without(dq, `${n}.nested_absmax`), ["'a.weight.absmax'", "U8", "nested_absmax"]],
    [without(dq, `${n}.nested_quant_map`), ["'a.weight.nested_quant_map'", "missing"]],
    [withState(n, dq, (s) => delete s.nested_offset), ["nested_offset"]],
  ];
  for (const [tensors, parts] of cases) {
    const ckpt = await store(tensors);
    await assertRejects(() => loadHostLinear(ckpt, n), FILE, ...parts);
  }
  // The untouched sets load.
  for (const tensors of [nf4, dq, fp8, int8]) {
    await loadHostLinear(await store(tensors), n, [OUT, IN]);
  }
});
