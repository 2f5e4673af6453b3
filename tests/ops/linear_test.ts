import { fp8e4m3ToF32 } from "../../src/dtype.ts";
import { memorySource } from "../../src/io/byte_source.ts";
import {
  GPU_VARIANTS,
  type HostLinear,
  LINEAR_FORMATS,
  linearFormatConsts,
  type LinearGpuFormat,
} from "../../src/formats/mod.ts";
import { loadHostLinear } from "../../src/io/linear_loader.ts";
import { denseTensor, quantizeLinear, quantizeNf4 } from "../../src/io/quantize.ts";
import { SafetensorsFile } from "../../src/io/safetensors.ts";
import { type TensorMap, writeSafetensors } from "../../src/io/safetensors_writer.ts";
import { Tensor } from "../../src/gpu/tensor.ts";
import {
  DIRECT_WG,
  directTile,
  EXPAND_MIN_M,
  linear,
  LINEAR_TILES,
  linearDirectFits,
  type LinearPath,
  linearPath,
  linearTile,
  linearVectorLoads,
  MEDIUM_M,
  SMALL_M,
  SOFTWARE_K_CHUNK,
  uploadLinear,
} from "../../src/ops/linear.ts";
import { binary } from "../../src/ops/elementwise.ts";
import { binaryRef } from "../../src/ops/elementwise_ref.ts";
import { linearRef } from "../../src/ops/linear_ref.ts";
import { assert, assertEquals, assertRejects } from "../assert.ts";
import { actDTypes, assertClose, randn, roundF16, testGpu, TOL } from "../util.ts";

/** Every stored form a Linear weight can have. */
const FORMATS = ["f32", "f16", "bf16", "nf4", "nf4-double", "fp8", "int8"] as const;
type Format = typeof FORMATS[number];

/**
 * A host weight in `format`, produced the way the runtime gets one: written
 * to a safetensors file by the quantizers and read back by the loader.
 */
async function hostLinear(
  format: Format,
  values: Float32Array,
  out: number,
  inF: number,
  nf4Block?: number,
) {
  const name = "layer.weight";
  const tensors: TensorMap = format === "nf4" || format === "nf4-double"
    ? quantizeNf4(name, values, [out, inF], {
      doubleQuant: format === "nf4-double",
      blocksize: nf4Block,
    })
    : format === "fp8" || format === "int8"
    ? quantizeLinear(format, name, values, [out, inF])
    : { [name]: denseTensor(values, [out, inF], format.toUpperCase() as "F32" | "F16" | "BF16") };
  const file = await SafetensorsFile.open(memorySource("w.safetensors", writeSafetensors(tensors)));
  return await loadHostLinear(file, name, [out, inF]);
}

/**
 * Runs the GEMM on random inputs against the CPU reference, for every
 * activation dtype and both kernel paths where the direct one fits (or only
 * `opts.paths`). With `siluGate`, the fused `silu(G) · (X · Wᵀ + b)` against
 * the CPU GEMM then the CPU siluGate, and bit for bit against the GPU GEMM
 * then the element-wise kernel.
 */
async function checkLinear(
  format: Format,
  [m, n, k]: [number, number, number],
  opts: {
    bias?: boolean;
    maxPartBytes?: number;
    seed?: number;
    nf4Block?: number;
    paths?: LinearPath[];
    siluGate?: boolean;
  } = {},
) {
  const ctx = await testGpu();
  const seed = opts.seed ?? 1;
  const host: HostLinear = await hostLinear(
    format,
    randn(n * k, seed, 1 / Math.sqrt(k)),
    n,
    k,
    opts.nf4Block,
  );
  const bias = opts.bias ? randn(n, seed + 1) : undefined;
  const w = uploadLinear(ctx, host, `w_${format}`, { bias, maxPartBytes: opts.maxPartBytes });
  const paths: LinearPath[] = opts.paths ??
    (linearDirectFits(w.format, k, w.nf4Block) ? ["tiled", "direct"] : ["tiled"]);
  try {
    for (const dtype of actDTypes(ctx)) {
      let x = randn(m * k, seed + 2);
      if (dtype === "f16") x = roundF16(x);
      const xt = Tensor.fromF32(ctx, x, [m, k], dtype, "x");
      let want = linearRef(x, m, host, bias);
      let g = randn(m * n, seed + 3, 2);
      if (dtype === "f16") g = roundF16(g);
      const gt = opts.siluGate ? Tensor.fromF32(ctx, g, [m, n], dtype, "g") : undefined;
      if (gt) want = binaryRef("siluGate", g, dtype === "f16" ? roundF16(want) : want);
      for (const path of paths) {
        const y = linear(ctx, xt, w, { path, siluGate: gt });
        const got = await y.toF32();
        const what = `${format} ${dtype} ${path} [${m},${k}]x[${n},${k}]ᵀ${gt ? " siluGate" : ""}`;
        assertClose(got, want, TOL[dtype], what);
        if (gt) {
          const plain = linear(ctx, xt, w, { path });
          const unfused = binary(ctx, "siluGate", gt, plain);
          assertEquals(got, await unfused.toF32(), `${what}: fused = unfused, bit for bit`);
          plain.release();
          unfused.release();
        }
        y.release();
      }
      gt?.release();
      xt.release();
    }
  } finally {
    w.release();
  }
  return w;
}

for (const format of FORMATS) {
  Deno.test(`linear ${format}: odd M, N, K (partial tiles everywhere)`, async () => {
    await checkLinear(format, [37, 101, 75]);
  });
}

Deno.test("linear: bias, M = 1, and shapes larger than one tile in every direction", async () => {
  await checkLinear("f32", [1, 70, 33], { bias: true });
  await checkLinear("bf16", [130, 129, 66], { bias: true, seed: 5 });
  await checkLinear("nf4-double", [65, 96, 256], { bias: true, seed: 7 });
});

Deno.test("linear: vector loads and every tile over odd shapes, every format", async () => {
  // K = 72: vec4 / whole-word loads (a multiple of 8) but not of the 32-deep tile, and rows
  // that straddle nf4 blocks of 64. M = 1, 5 and 70 take the small, medium and large tile;
  // N is never a multiple of a tile's width.
  const k = 72;
  assert(SMALL_M < 5 && 5 <= MEDIUM_M && MEDIUM_M < 70, "one shape per tile");
  assert(linearTile(1) === LINEAR_TILES.small && linearTile(70) === LINEAR_TILES.large, "tiles");
  for (const format of FORMATS) {
    const f = format === "nf4-double" ? "nf4" : format;
    assert(linearVectorLoads(f, k, 64), `${format}: K = ${k} should take the vector path`);
    for (const m of [1, 5, 70]) await checkLinear(format, [m, 133, k], { bias: m === 5, seed: m });
  }
  // The element-by-element path when nf4 blocks are not a multiple of 8 values.
  assert(!linearVectorLoads("nf4", k, 36), "nf4 block 36 must not take the vector path");
  await checkLinear("nf4", [3, 40, k], { nf4Block: 36, seed: 9 });
  await checkLinear("nf4", [66, 40, k], { nf4Block: 36, seed: 10 });
});

Deno.test("linear: the direct path over odd shapes, every format and register block", async () => {
  // K = 96 fits the direct path in every format (a multiple of the 32 nf4 values in one vec4 of
  // words); N = 133 is not a multiple of a workgroup's DIRECT_WG · DTN columns; M = 1, 3 take
  // DTM = M, 5 and 70 the row blocks above SMALL_M (70 not a multiple of either).
  const k = 96;
  assert(133 % (DIRECT_WG * 4) !== 0, "N off the workgroup");
  for (const format of FORMATS) {
    const f = format === "nf4-double" ? "nf4" : format;
    assert(
      linearDirectFits(f, k, f === "nf4" ? 64 : 0),
      `${format}: K = ${k} fits the direct path`,
    );
    for (const m of [1, 3, 5, 70]) {
      await checkLinear(format, [m, 133, k], { bias: m !== 3, seed: 40 + m, paths: ["direct"] });
    }
  }
  assertEquals(directTile(3, 133, "nf4"), { DTM: 3, DTN: 4 });
  assertEquals(directTile(70, 133, "f32"), { DTM: 6, DTN: 4 });
  assertEquals(directTile(70, 133, "bf16"), { DTM: 6, DTN: 4 });
  assertEquals(directTile(70, 133, "fp8"), { DTM: 4, DTN: 4 });
  assertEquals(directTile(70, 4608, "fp8_bf16"), { DTM: 4, DTN: 6 });
  assertEquals(directTile(70, 4608, "int8"), { DTM: 4, DTN: 4 });
  // nf4: 6 columns per invocation where a workgroup's 384 columns pad N by at most an eighth.
  assertEquals(directTile(70, 133, "nf4"), { DTM: 4, DTN: 4 });
  assertEquals(directTile(70, 4096, "nf4_bf16"), { DTM: 4, DTN: 6 });
  assertEquals(directTile(70, 760, "nf4"), { DTM: 4, DTN: 6 });
  for (const m of [5, 70]) {
    for (const format of ["nf4", "fp8"] as const) {
      await checkLinear(format, [m, 760, 96], { bias: true, seed: 48 + m, paths: ["direct"] });
    }
  }
  // The block does not change any output's bits: 4 × 6 sums each k in the order the tiled path does.
  const ctx = await testGpu();
  const w6 = uploadLinear(ctx, await hostLinear("nf4", randn(760 * 96, 60), 760, 96), "w6");
  const x6 = Tensor.fromF32(ctx, randn(70 * 96, 61), [70, 96], "f32", "x6");
  const [yd, yt] = [
    linear(ctx, x6, w6, { path: "direct" }),
    linear(ctx, x6, w6, { path: "tiled" }),
  ];
  const [direct6, tiled6] = [await yd.toF32(), await yt.toF32()];
  assert(direct6.every(Number.isFinite), "nf4 4 × 6 direct: finite outputs");
  assertEquals(
    new Uint32Array(direct6.buffer),
    new Uint32Array(tiled6.buffer),
    "nf4 4 × 6 direct vs tiled, bit for bit",
  );
  for (const t of [w6, x6, yd, yt]) t.release();
  // nf4 blocks of 32: one absmax per vec4 of words, a new one every step.
  await checkLinear("nf4", [7, 70, 128], { nf4Block: 32, seed: 47, paths: ["direct"] });
});

Deno.test("linear: nf4 decoded as bf16 is expanded to bf16 words from EXPAND_MIN_M rows, bit-identical", async () => {
  // The direct path expands an nf4_bf16 weight (the models' default decode) band by band into
  // bf16 words and multiplies those; the tiled path decodes in its tile loads. Both must give the
  // same bits, and the CPU reference's values. N = 601 (odd), K = 96, three weight parts (256,
  // 256 and 89 rows) and bands of 100 rows, so bands start inside parts and end short.
  const ctx = await testGpu();
  const [n, k] = [601, 96];
  const host = { ...(await hostLinear("nf4", randn(n * k, 70, 0.2), n, k)), torchBf16: true };
  const bias = randn(n, 71);
  const w = uploadLinear(ctx, host, "w_bf16", { bias, maxPartBytes: 256 * k / 2 });
  assertEquals(w.format, "nf4_bf16");
  assertEquals(w.parts.length, 3);
  for (const dtype of actDTypes(ctx)) {
    for (const m of [EXPAND_MIN_M - 1, EXPAND_MIN_M, 70]) {
      let xs = randn(m * k, 72 + m);
      if (dtype === "f16") xs = roundF16(xs);
      const x = Tensor.fromF32(ctx, xs, [m, k], dtype, "x");
      const yd = linear(ctx, x, w, { path: "direct", expandBandRows: 100 });
      const yt = linear(ctx, x, w, { path: "tiled" });
      const [direct, tiled] = [await yd.toF32(), await yt.toF32()];
      const what = `nf4_bf16 ${dtype} M = ${m}`;
      assertClose(direct, linearRef(xs, m, host, bias), TOL[dtype], what);
      assertEquals(new Uint32Array(direct.buffer), new Uint32Array(tiled.buffer), `${what}: bits`);
      for (const t of [x, yd, yt]) t.release();
    }
  }
  w.release();
});

Deno.test("linear: every finite fp8 byte decodes exactly as the CPU's e4m3fn, on both paths", async () => {
  // A 16 × 16 weight holding each byte once (the two NaN codes 0x7f / 0xff replaced by ±0: a NaN
  // would spread through every sum of its row) and scale 1, times the identity: Y[m][n] is the
  // decoded byte 16n + m itself, subnormals (e = 0) included, in f32 and in f16 (every e4m3 value
  // is an f16 value).
  const ctx = await testGpu();
  const bytes = Uint8Array.from({ length: 256 }, (_, b) => (b & 0x7f) === 0x7f ? b & 0x80 : b);
  const host: HostLinear = {
    format: "fp8",
    out: 16,
    in: 16,
    bytes,
    scale: new Float32Array(16).fill(1),
  };
  const w = uploadLinear(ctx, host, "w_every_fp8");
  const eye = Float32Array.from({ length: 256 }, (_, i) => i % 17 === 0 ? 1 : 0);
  for (const dtype of actDTypes(ctx)) {
    const x = Tensor.fromF32(ctx, eye, [16, 16], dtype, "eye");
    for (const path of ["tiled", "direct"] as const) {
      const y = linear(ctx, x, w, { path });
      const got = await y.toF32();
      for (let m = 0; m < 16; m++) {
        for (let n = 0; n < 16; n++) {
          const want = fp8e4m3ToF32(bytes[16 * n + m]);
          assert(
            got[16 * m + n] === want,
            `${dtype} ${path}: byte 0x${bytes[16 * n + m].toString(16)} gave ${
              got[16 * m + n]
            }, want ${want}`,
          );
        }
      }
      y.release();
    }
    x.release();
  }
  w.release();
});

Deno.test("linear: CPU adapters take the direct path where it fits; forcing it elsewhere is an error", async () => {
  const ctx = await testGpu();
  assert(!linearDirectFits("fp8", 72, 0), "K = 72 is not a multiple of 16 fp8 values");
  assert(!linearDirectFits("nf4", 96, 48), "nf4 blocks of 48 straddle a vec4 of words");
  assert(linearDirectFits("bf16", 72, 0), "K = 72 is a multiple of 8 bf16 values");
  const host = await hostLinear("fp8", randn(40 * 72, 50), 40, 72);
  const w = uploadLinear(ctx, host, "odd");
  const x = Tensor.fromF32(ctx, randn(3 * 72, 51), [3, 72], "f32", "x");
  await assertRejects(
    () => linear(ctx, x, w, { path: "direct" }),
    "weight 'odd' (fp8, K = 72, block 0) does not fit the direct path",
  );
  assertEquals(linearPath(ctx, w), "tiled", "K = 72 fp8 takes the tiled path");
  w.release();
  const wf = uploadLinear(ctx, await hostLinear("f32", randn(40 * 72, 52), 40, 72), "fits");
  assertEquals(linearPath(ctx, wf), ctx.isSoftware ? "direct" : "tiled", "default path");
  wf.release();
  x.release();
});

Deno.test("linear: long K (summed in chunks on CPU adapters) on every tile and load path", async () => {
  // CPU adapters cap a shader's loop iterations (4K + 40 in one dispatch exceeds the cap on
  // lavapipe); these K take 3-5 chunks there. 4K + 40 is not a multiple of the tile depth
  // (element path); 2K + 64 takes the vector path.
  const k = SOFTWARE_K_CHUNK;
  await checkLinear("f32", [2, 9, 4 * k + 40], { bias: true, seed: 21 });
  await checkLinear("nf4", [67, 5, 2 * k + 64], { bias: true, seed: 22 });
  await checkLinear("fp8", [9, 7, 2 * k + 64], { seed: 23 });
  await checkLinear("int8", [33, 6, 2 * k + 40], { bias: true, seed: 24 });
});

Deno.test("linear: a weight over the buffer limit is split into row parts", async () => {
  // [600, 64] f32 = 153.6 kB; parts of 256 rows (65.5 kB) → 3 parts, the last short.
  for (const format of ["f32", "nf4", "fp8", "int8"] as const) {
    const bytesPerRow = format === "f32" ? 256 : format === "nf4" ? 32 : 64;
    for (const m of [70, 19, 2]) {
      const w = await checkLinear(format, [m, 600, 64], {
        bias: true,
        maxPartBytes: 300 * bytesPerRow,
        seed: 11 + m,
      });
      assert(w.parts.length === 3, `${format}: expected 3 parts, got ${w.parts.length}`);
    }
  }
});

Deno.test("linear int8: M = 1, K off the tile and the word, N split across binding-size parts", async () => {
  // K = 75: not a multiple of the 32-deep tile nor of 4 (element path); K = 100: vector
  // path, not a multiple of the tile. N = 700 in parts of 256 rows (3 parts, the last short).
  for (const k of [75, 100]) {
    assert(linearVectorLoads("int8", k, 0) === (k % 4 === 0), `K = ${k} load path`);
    for (const m of [1, 3, 40]) {
      const w = await checkLinear("int8", [m, 700, k], {
        bias: m !== 3,
        maxPartBytes: 300 * k,
        seed: 30 + m + k,
      });
      assertEquals(w.parts.map((p) => [p.row0, p.rows]), [[0, 256], [256, 256], [512, 188]]);
      assertEquals(w.format, "int8");
    }
  }
});

Deno.test("linear: one FORMAT code per GPU variant, every variant reachable from its record", () => {
  const codes = Object.values(GPU_VARIANTS).map((v) => v.code);
  assertEquals(new Set(codes).size, codes.length, "codes are unique");
  const seen = new Set<string>();
  for (const f of LINEAR_FORMATS) {
    for (const [name, v] of Object.entries(f.gpuVariants)) {
      seen.add(name);
      const consts = linearFormatConsts(name as LinearGpuFormat);
      assertEquals([consts.FORMAT, consts.EPW], [v.code, v.elementsPerWord], name);
      assertEquals(consts[`FORMAT_${name.toUpperCase()}`], v.code, name);
    }
  }
  assertEquals([...seen].sort(), Object.keys(GPU_VARIANTS).sort());
});

Deno.test("linear: the output can be a view, and bad shapes are clear errors", async () => {
  const ctx = await testGpu();
  const k = 24, n = 40, m = 5;
  const host = await hostLinear("fp8", randn(n * k, 3), n, k);
  const w = uploadLinear(ctx, host, "proj");
  const x = Tensor.fromF32(ctx, randn(m * k, 4), [m, k], "f32", "x");
  const big = Tensor.empty(ctx, [2 * m * n], "f32", "big");
  const y = linear(ctx, x, w, { out: big.view([m, n], "f32", 256) });
  assertClose(await y.toF32(), linearRef(randn(m * k, 4), m, host), TOL.f32, "into a view");
  const wrong = Tensor.fromF32(ctx, randn(m * 7, 4), [m, 7], "f32", "wrong");
  await assertRejects(() => linear(ctx, wrong, w), "'wrong' [5, 7] has 7 features");
  await assertRejects(
    () => linear(ctx, x, w, { out: Tensor.empty(ctx, [m, n + 1], "f32", "y") }),
    "out 'y'",
  );
  await assertRejects(
    () => linear(ctx, x, w, { out: big.view([m, n], "f32", 4, "odd") }),
    "'odd' starts at byte 4",
  );
  w.release();
  await assertRejects(() => linear(ctx, x, w), "used after release");
  for (const t of [x, big, wrong]) t.release();
});

Deno.test("linear siluGate: the fused SwiGLU epilogue, every format, both paths, odd shapes", async () => {
  for (const format of FORMATS) {
    await checkLinear(format, [37, 101, 75], { siluGate: true, seed: 31 });
    // K a multiple of 32: the vector loads of the tiled path and the direct path.
    await checkLinear(format, [6, 70, 96], { siluGate: true, bias: true, seed: 32 });
  }
});

Deno.test("linear siluGate: applied once, after the last K chunk (CPU adapters sum K in chunks)", async () => {
  const k = SOFTWARE_K_CHUNK;
  await checkLinear("f32", [3, 9, 2 * k + 40], { siluGate: true, bias: true, seed: 33 });
  await checkLinear("nf4", [19, 5, 2 * k + 64], { siluGate: true, bias: true, seed: 34 });
  await checkLinear("int8", [2, 6, k + 128], { siluGate: true, seed: 35 });
});

Deno.test("linear siluGate: across a weight's row parts; a gate of the wrong shape is an error", async () => {
  await checkLinear("f16", [3, 600, 64], { siluGate: true, maxPartBytes: 300 * 64 * 2, seed: 36 });
  const ctx = await testGpu();
  const host = await hostLinear("f32", randn(8 * 16, 37), 8, 16);
  const w = uploadLinear(ctx, host, "w3");
  const x = Tensor.fromF32(ctx, randn(4 * 16, 38), [4, 16], "f32", "x");
  const g = Tensor.fromF32(ctx, randn(4 * 7, 39), [4, 7], "f32", "gate");
  await assertRejects(
    () => linear(ctx, x, w, { siluGate: g }),
    "siluGate 'gate' is [4, 7] f32; expected [4, 8] f32",
  );
  for (const t of [x, g]) t.release();
  w.release();
});
