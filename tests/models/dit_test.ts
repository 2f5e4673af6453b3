import type { GpuContext } from "../../src/gpu/context.ts";
import { Tensor } from "../../src/gpu/tensor.ts";
import { Checkpoint } from "../../src/io/checkpoint.ts";
import { writeSafetensors, writeShardedSafetensors } from "../../src/io/safetensors_writer.ts";
import { DiT, type DiTLoadOptions, ditPositions } from "../../src/models/dit.ts";
import { IDEOGRAM4_DIT, parseDiTConfig, resolveDiTConfig } from "../../src/models/dit_config.ts";
import { ditForwardRef, type DiTRefOptions } from "../../src/models/dit_ref.ts";
import { loadDiTHostWeights } from "../../src/models/dit_weights.ts";
import { setPlatform } from "../../src/platform/mod.ts";
import { assert, assertEquals, assertRejects } from "../assert.ts";
import { mmapPlatform, readPlatform, recording, withTempDir } from "../io/io_util.ts";
import { assertClose, randn, relErr, testGpu, TOL } from "../util.ts";
import { withTorchBf16Weights } from "./torch_bf16_ref.ts";
import {
  TINY_DIT,
  tinyDitConfig,
  tinyDitConfigJson,
  tinyDitTensors,
  type TinyFormat,
  withTinyDit,
} from "./tiny_dit.ts";

setPlatform(mmapPlatform);

const LTXT = 7, GH = 3, GW = 4, T = 0.37;
const LATENTS = randn(GH * GW * TINY_DIT.inChannels, 11);
const FEATURES = randn(LTXT * TINY_DIT.llmFeaturesDim, 12);

/** Host weights read without mmap, so they outlive the closed checkpoint. */
async function hostWeights(dir: string, text = true, torchBf16 = true) {
  const config = tinyDitConfig();
  const ckpt = await Checkpoint.open(dir, {
    stem: "diffusion_pytorch_model",
    platform: readPlatform,
  });
  try {
    return await loadDiTHostWeights(ckpt, config, { text, torchBf16 });
  } finally {
    ckpt.close();
  }
}

/** Runs one forward on the GPU (poisoned outputs) and reads the velocity back. */
async function gpuForward(
  ctx: GpuContext,
  dit: DiT,
  conditional: boolean,
  t = T,
  grid: [number, number] = [GH, GW],
): Promise<Float32Array> {
  const [gh, gw] = grid;
  const latents = Tensor.fromF32(ctx, LATENTS.subarray(0, gh * gw * 128), [gh * gw, 128]);
  const features = conditional
    ? Tensor.fromF32(ctx, FEATURES, [LTXT, TINY_DIT.llmFeaturesDim])
    : undefined;
  const v = dit.forward(ctx, { latents, features, t, gh, gw });
  assertEquals(v.shape, [gh * gw, 128]);
  assertEquals(v.dtype, "f32");
  const got = await v.toF32();
  for (const x of [latents, features, v]) x?.release();
  return got;
}

function refForward(
  host: Awaited<ReturnType<typeof hostWeights>>,
  conditional: boolean,
  opts: DiTRefOptions = {},
  t = T,
) {
  return ditForwardRef(host, {
    latents: LATENTS.subarray(0, GH * GW * 128),
    features: conditional ? FEATURES : undefined,
    t,
    gh: GH,
    gw: GW,
  }, opts);
}

const FORMATS: TinyFormat[] = ["f32", "bf16", "nf4", "nf4-double", "fp8", "int8"];

for (const format of FORMATS) {
  for (const sharded of [false, true]) {
    const how = sharded ? "sharded" : "single file";
    Deno.test(`DiT (${format}, ${how}) matches the CPU reference, conditional and not`, async () => {
      const ctx = await testGpu();
      await withTinyDit({ format, seed: 3, sharded }, async (dir) => {
        const host = await hostWeights(dir);
        const dit = await DiT.load(ctx, dir);
        assertEquals(dit.config, tinyDitConfig());
        const formats = [...dit.weightFormats].sort();
        const want: Record<TinyFormat, string[]> = {
          f32: ["f32"],
          bf16: ["bf16"],
          nf4: ["nf4_bf16"],
          "nf4-double": ["nf4_bf16"],
          fp8: ["bf16", "fp8_bf16"],
          int8: ["int8"],
        };
        assertEquals(formats, want[format], "weight formats");
        const cond = await gpuForward(ctx, dit, true);
        const uncond = await gpuForward(ctx, dit, false);
        const refCond = refForward(host, true), refUncond = refForward(host, false);
        console.log(
          `  ${format} ${how}: cond ${relErr(cond, refCond).toExponential(2)}, ` +
            `uncond ${relErr(uncond, refUncond).toExponential(2)}`,
        );
        assertClose(cond, refCond, TOL.f32, `conditional ${format}`);
        assertClose(uncond, refUncond, TOL.f32, `unconditional ${format}`);
        // The text tokens matter (else the conditional check proves little).
        assert(relErr(refUncond, refCond) > 0.05, "text conditioning changes the velocity");
        dit.release();
      });
    });
  }
}

Deno.test("DiT with f16 activations stays close to the CPU reference", async () => {
  const ctx = await testGpu();
  if (!ctx.features.f16) return;
  await withTinyDit({ format: "nf4-double", seed: 4 }, async (dir) => {
    const host = await hostWeights(dir);
    const dit = await DiT.load(ctx, dir, { activations: "f16" });
    for (const conditional of [true, false]) {
      const got = await gpuForward(ctx, dit, conditional);
      const want = refForward(host, conditional);
      console.log(`  f16 cond=${conditional}: ${relErr(got, want).toExponential(2)}`);
      assertClose(got, want, TOL.f16, `f16 conditional=${conditional}`);
    }
    dit.release();
  });
});

Deno.test("MRoPE: the image offset and the axis of each grid coordinate matter", async () => {
  const ctx = await testGpu();
  await withTinyDit({ format: "f32", seed: 5 }, async (dir) => {
    const host = await hostWeights(dir);
    const dit = await DiT.load(ctx, dir);
    const got = await gpuForward(ctx, dit, true);
    const right = refForward(host, true);
    assertClose(got, right, TOL.f32, "right positions");
    const O = 65536;
    const wrong: Record<string, DiTRefOptions["imagePosition"]> = {
      "no offset": (gy, gx) => [0, gy, gx],
      "offset 4096": (gy, gx) => [4096, 4096 + gy, 4096 + gx],
      "gy and gx swapped": (gy, gx) => [O, O + gx, O + gy],
      "gy on axis 0": (gy, gx) => [O + gy, O + gy, O + gx],
      "gx on axis 0 too": (gy, gx) => [O + gx, O + gy, O + gx],
    };
    for (const [what, imagePosition] of Object.entries(wrong)) {
      const other = refForward(host, true, { imagePosition });
      const e = relErr(got, other);
      console.log(`  GPU vs reference with ${what}: ${e.toExponential(2)}`);
      assert(e > 1e-2, `GPU output also matches positions with ${what} (${e})`);
    }
    // Unconditional: only relative image positions matter, so the offset does not…
    const uncond = await gpuForward(ctx, dit, false);
    assertClose(uncond, refForward(host, false), TOL.f32, "unconditional");
    // …but the axis assignment does.
    const swapped = refForward(host, false, { imagePosition: (gy, gx) => [O, O + gx, O + gy] });
    assert(relErr(uncond, swapped) > 1e-2, "unconditional with gy/gx swapped differs");
    dit.release();
  });
});

Deno.test("torchBf16: off gives the exact formulas, on the reference's t / inv_freq rounding", async () => {
  const ctx = await testGpu();
  await withTinyDit({ format: "bf16", seed: 6 }, async (dir) => {
    const host = await hostWeights(dir);
    const exact = await DiT.load(ctx, dir, { torchBf16: false });
    const parity = await DiT.load(ctx, dir);
    assert(parity.torchBf16 && !exact.torchBf16, "default is on");
    const gotExact = await gpuForward(ctx, exact, true);
    const gotParity = await gpuForward(ctx, parity, true);
    const refExact = refForward(host, true, { torchBf16: false });
    const refParity = refForward(host, true, { torchBf16: true });
    assertClose(gotExact, refExact, TOL.f32, "exact");
    assertClose(gotParity, refParity, TOL.f32, "bf16 parity");
    const e = relErr(refExact, refParity);
    console.log(`  exact vs bf16-parity velocity: ${e.toExponential(2)}`);
    assert(e > 1e-2, "the option changes the result");
    // t is rounded to bf16 in parity mode: two t in one bf16 step give the same answer there.
    const [t1, t2] = [0.5, 0.5 + 2 ** -10]; // bf16 spacing at 0.5 is 2^-8
    assertEquals(
      Array.from(refForward(host, false, {}, t1)),
      Array.from(refForward(host, false, {}, t2)),
    );
    const p1 = await gpuForward(ctx, parity, false, t1),
      p2 = await gpuForward(ctx, parity, false, t2);
    assertEquals(Array.from(p1), Array.from(p2), "GPU parity mode rounds t");
    const x1 = await gpuForward(ctx, exact, false, t1),
      x2 = await gpuForward(ctx, exact, false, t2);
    assert(relErr(x1, x2) > 1e-3, "exact mode sees the difference");
    exact.release();
    parity.release();
  });
});

for (const format of ["fp8", "nf4-double"] as const) {
  const rule = format === "fp8" ? "bf16(fp8 · bf16(scale))" : "bf16(code · absmax)";
  Deno.test(`${format}: bf16 parity decodes as ${rule}, resident and streamed`, async () => {
    const ctx = await testGpu();
    await withTinyDit({ format, seed: 8 }, async (dir) => {
      // References from the raw file values: the reference's decode, and the exact one.
      const raw = await hostWeights(dir, true, false);
      const torch = withTorchBf16Weights(raw);
      for (const conditional of [true, false]) {
        const refTorch = refForward(torch, conditional);
        const refExact = refForward(raw, conditional);
        const gap = relErr(refExact, refTorch);
        for (const residency of ["resident", "stream"] as const) {
          const dit = await DiT.load(ctx, dir, { residency });
          const got = await gpuForward(ctx, dit, conditional);
          const e = relErr(got, refTorch);
          console.log(
            `  ${format} ${residency} ${conditional ? "cond" : "uncond"}: ${e.toExponential(2)} ` +
              `(exact decode is ${gap.toExponential(2)} away)`,
          );
          assertClose(got, refTorch, TOL.f32, `${format} bf16 parity, ${residency}`);
          dit.release();
        }
        // The rounding is visible: an unrounded decode would fail the bound above.
        assert(gap > 10 * TOL.f32, `bf16 rounding changes the velocity (${gap})`);
        const exact = await DiT.load(ctx, dir, { torchBf16: false });
        const refAllExact = refForward(raw, conditional, { torchBf16: false });
        assertClose(await gpuForward(ctx, exact, conditional), refAllExact, TOL.f32, "exact");
        exact.release();
      }
    });
  });
}

Deno.test("ditPositions: text (i, i, i), image (65536, 65536 + gy, 65536 + gx), row-major", () => {
  const p = ditPositions(2, 2, 3);
  assertEquals(Array.from(p.subarray(0, 6)), [0, 0, 0, 1, 1, 1]);
  // Image token 4 is (gy 1, gx 1).
  assertEquals(Array.from(p.subarray(3 * (2 + 4), 3 * (2 + 5))), [65536, 65537, 65537]);
  assertEquals(Array.from(p.subarray(3 * (2 + 2), 3 * (2 + 3))), [65536, 65536, 65538]);
  assertEquals(p.length, 3 * 8);
});

Deno.test("config: sizes inferred from shapes (nf4 quant states too), rope from config.json", async () => {
  const ctx = await testGpu();
  for (const format of ["nf4", "bf16"] as TinyFormat[]) {
    await withTinyDit({ format, seed: 7, config: "rope", prefix: "model." }, async (dir) => {
      const dit = await DiT.load(ctx, dir);
      assertEquals(dit.config, tinyDitConfig(), `inferred (${format})`);
      dit.release();
    });
  }
  await withTinyDit(
    { format: "f32", seed: 7, config: "none", dims: { numLayers: 2 } },
    async (dir) => {
      // No config.json: the released mrope sections do not fit head dim 32.
      await assertRejects(() => DiT.load(ctx, dir), "mrope_section", "(24, 20, 20)", "head dim 32");
      const dit = await DiT.load(ctx, dir, { config: { mropeSection: [8, 4, 4] } });
      assertEquals(dit.config, tinyDitConfig({ numLayers: 2, normEps: 1e-5 }));
      assertEquals([dit.config.ropeTheta, dit.config.normEps], [5e6, 1e-5], "released defaults");
      dit.release();
    },
  );
  const full = tinyDitConfigJson({})!;
  const cases: [Record<string, unknown>, string[]][] = [
    [{ emb_dim: 4608 }, ["emb_dim", "4608", "input_proj.weight", "[64, 128]"]],
    [{ num_heads: 18 }, ["num_heads", "18", "norm_q.weight"]],
    [{ num_layers: 2 }, ["num_layers", "is 2", "have 3", "layers.0 … 2"]],
    [{ intermediate_size: 12288 }, ["intermediate_size", "feed_forward.w1.weight"]],
    [{ llm_features_dim: 53248 }, ["llm_features_dim", "llm_cond_proj.weight"]],
    [{ mrope_section: [24, 20, 20] }, ["mrope_section", "head dim 32"]],
    [{ rope_theta: "big" }, ["rope_theta", "positive number"]],
  ];
  await withTinyDit({ format: "bf16", seed: 7, dims: { numLayers: 3 } }, async (dir) => {
    for (const [change, parts] of cases) {
      await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify({ ...full, ...change }));
      await assertRejects(() => DiT.load(ctx, dir), "config.json", ...parts);
    }
  });
  // The released shapes with no config.json resolve to the released config.
  const size = (value: number) => ({ value, source: "test" });
  const R = IDEOGRAM4_DIT;
  const released = resolveDiTConfig({}, {
    embDim: size(4608),
    numLayers: size(34),
    headDim: size(256),
    intermediateSize: size(12288),
    adanlnDim: size(512),
    inChannels: size(128),
    llmFeaturesDim: size(53248),
  });
  assertEquals(released, { ...R });
  assertEquals([released.numHeads, released.ropeTheta, released.mropeSection], [18, 5e6, [
    24,
    20,
    20,
  ]]);
});

Deno.test("bad checkpoints give errors naming the file and tensor", async () => {
  const ctx = await testGpu();
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(tinyDitConfigJson({})));
    const file = `${dir}/diffusion_pytorch_model.safetensors`;
    const write = (t: ReturnType<typeof tinyDitTensors>) =>
      Deno.writeFile(file, writeSafetensors(t));

    const missing = tinyDitTensors({ format: "nf4" });
    delete missing["layers.1.feed_forward.w3.weight.absmax"];
    await write(missing);
    await assertRejects(() => DiT.load(ctx, dir), "layers.1.feed_forward.w3.weight.absmax");

    const noBias = tinyDitTensors({ format: "bf16" });
    delete noBias["layers.2.adaln_modulation.bias"];
    await write(noBias);
    await assertRejects(() => DiT.load(ctx, dir), dir, "layers.2.adaln_modulation.bias");

    const wrong = tinyDitTensors({ format: "bf16" });
    wrong["layers.2.attention.o.weight"] = wrong["layers.2.feed_forward.w2.weight"];
    await write(wrong);
    await assertRejects(
      () => DiT.load(ctx, dir),
      "diffusion_pytorch_model.safetensors",
      "layers.2.attention.o.weight",
      "[64, 96]",
      "[64, 64]",
    );

    const wrongNorm = tinyDitTensors({ format: "fp8" });
    wrongNorm["layers.0.attention.norm_k.weight"] = wrongNorm["layers.0.ffn_norm1.weight"];
    await write(wrongNorm);
    await assertRejects(() => DiT.load(ctx, dir), "layers.0.attention.norm_k.weight", "[32]");

    const gap = tinyDitTensors({ format: "bf16" });
    for (const k of Object.keys(gap)) if (k.startsWith("layers.1.")) delete gap[k];
    await write(gap);
    await assertRejects(() => DiT.load(ctx, dir), "layer 1 is missing");

    await write({ "something.weight": tinyDitTensors({ format: "f32" })["input_proj.weight"] });
    await assertRejects(() => DiT.load(ctx, dir), "not an Ideogram 4 DiT", "input_proj.weight");
  });
  // In a sharded checkpoint the error names the shard holding the tensor.
  await withTempDir(async (dir) => {
    const tensors = tinyDitTensors({ format: "bf16" });
    tensors["final_layer.linear.bias"] = tensors["layers.0.ffn_norm2.weight"];
    const files = writeShardedSafetensors(tensors, { stem: "diffusion_pytorch_model", shards: 3 });
    for (const [name, bytes] of files) await Deno.writeFile(`${dir}/${name}`, bytes);
    const index = JSON.parse(
      new TextDecoder().decode(files.get("diffusion_pytorch_model.safetensors.index.json")),
    );
    const shard = index.weight_map["final_layer.linear.bias"];
    assert(shard !== undefined && !shard.endsWith("-00001-of-00003.safetensors"), shard);
    await assertRejects(
      () => DiT.load(ctx, dir, { config: { mropeSection: [8, 4, 4] } }),
      `${dir}/${shard}`,
      "final_layer.linear.bias",
      "[64]",
      "[128]",
    );
  });
});

Deno.test("textConditioning: false skips the text weights; unconditional pass unchanged", async () => {
  const ctx = await testGpu();
  await withTinyDit({ format: "fp8", seed: 8 }, async (dir) => {
    const host = await hostWeights(dir, false);
    const ckpt = await Checkpoint.open(dir, { stem: "diffusion_pytorch_model" });
    const seen = new Set<string>();
    const opts: DiTLoadOptions = {
      config: parseDiTConfig(await Deno.readTextFile(`${dir}/config.json`), "config.json"),
      textConditioning: false,
    };
    const dit = await DiT.load(ctx, recording(ckpt, seen), opts);
    ckpt.close();
    assert(
      !seen.has("llm_cond_norm.weight") && !seen.has("llm_cond_proj.bias"),
      "text weights read",
    );
    assert(seen.has("layers.2.feed_forward.w2.weight"), "blocks read");
    const full = await DiT.load(ctx, dir);
    assert(full.byteSize > dit.byteSize, "fewer bytes without the text weights");
    assertClose(await gpuForward(ctx, dit, false), refForward(host, false), TOL.f32, "uncond");
    await assertRejects(() => gpuForward(ctx, dit, true), "textConditioning: false");
    dit.release();
    full.release();
  });
});

Deno.test("one forward records without submits; rope tables cached; release frees all", async () => {
  const ctx = await testGpu();
  await withTinyDit({ format: "nf4", seed: 9 }, async (dir) => {
    await ctx.sync();
    const before = ctx.pool.stats.liveBytes;
    const dit = await DiT.load(ctx, dir);
    assert(ctx.pool.stats.liveBytes > before, "weights are resident after load");
    const latents = Tensor.fromF32(ctx, LATENTS.subarray(0, GH * GW * 128), [GH * GW, 128]);
    const features = Tensor.fromF32(ctx, FEATURES, [LTXT, TINY_DIT.llmFeaturesDim]);
    await ctx.sync();
    const [submits, dispatches] = [ctx.submitCount, ctx.dispatchCount];
    // Which kernels the forward records: the FFN's SwiGLU gate runs in w3's GEMM
    // (its epilogue), never as an element-wise pass of its own.
    const kernels: string[] = [];
    const dispatch = ctx.dispatch;
    ctx.dispatch = (k, args) => {
      kernels.push(("pipeline" in k ? k.spec : k).code);
      dispatch.call(ctx, k, args);
    };
    const v = dit.forward(ctx, { latents, features, t: T, gh: GH, gw: GW });
    ctx.dispatch = dispatch;
    assertEquals(ctx.submitCount - submits, 0, "submits while recording the forward");
    const count = (text: string) => kernels.filter((c) => c.includes(text)).length;
    assertEquals(count("const OP = OP_SILU_GATE;"), 0, "element-wise siluGate dispatches");
    assertEquals(
      count("const EPILOGUE = EPILOGUE_SILU_GATE;"),
      TINY_DIT.numLayers,
      "GEMMs with the fused gate (w3 of each block)",
    );
    console.log(`  one conditional forward: ${ctx.dispatchCount - dispatches} dispatches`);
    v.release();
    // Layouts: (7, 3×4) cached; the unconditional (0, 3×4) is another entry; repeats reuse.
    const u = dit.forward(ctx, { latents, t: T, gh: GH, gw: GW });
    u.release();
    dit.forward(ctx, { latents, features, t: 0.9, gh: GH, gw: GW }).release();
    assertEquals(dit.ropeCacheSize, 2);
    for (const [gh, gw] of [[1, 12], [2, 6], [6, 2], [12, 1]]) {
      dit.forward(ctx, { latents, t: T, gh, gw }).release();
    }
    assertEquals(dit.ropeCacheSize, 4, "cache bounded");
    // Bad inputs.
    await assertRejects(
      () => dit.forward(ctx, { latents, t: T, gh: 4, gw: 4 }),
      "latents",
      "[12, 128]",
      "[16, 128]",
    );
    await assertRejects(() => dit.forward(ctx, { latents, t: 1.5, gh: GH, gw: GW }), "t = 1.5");
    await assertRejects(
      () => dit.forward(ctx, { latents, features: latents, t: T, gh: GH, gw: GW }),
      "features",
      "[12, 832]",
    );
    latents.release();
    features.release();
    dit.release();
    await ctx.sync();
    assertEquals(ctx.pool.stats.liveBytes, before, "live bytes after release");
    await assertRejects(() => dit.forward(ctx, { latents, t: T, gh: GH, gw: GW }), "after release");
  });
});
