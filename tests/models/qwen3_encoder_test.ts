import { Checkpoint } from "../../src/io/checkpoint.ts";
import { writeSafetensors, writeShardedSafetensors } from "../../src/io/safetensors_writer.ts";
import { parseQwen3Config, QWEN3_TAP_LAYERS } from "../../src/models/qwen3_config.ts";
import { Qwen3TextEncoder } from "../../src/models/qwen3_encoder.ts";
import { qwen3EncodeRef, qwen3HiddenRef } from "../../src/models/qwen3_encoder_ref.ts";
import { loadQwen3HostWeights } from "../../src/models/qwen3_weights.ts";
import { setPlatform } from "../../src/platform/mod.ts";
import { assert, assertEquals, assertRejects } from "../assert.ts";
import { mmapPlatform, readPlatform, recording, withTempDir } from "../io/io_util.ts";
import { assertClose, relErr, testGpu, TOL } from "../util.ts";
import { withTorchBf16Weights } from "./torch_bf16_ref.ts";
import {
  TINY_QWEN3,
  type TinyFormat,
  tinyQwen3Config,
  tinyQwen3Tensors,
  withTinyQwen3,
} from "./tiny_qwen3.ts";

setPlatform(mmapPlatform);

/** 11 prompt tokens, repeats included (the host gather must handle them). */
const IDS = [151 % TINY_QWEN3.vocab, 7, 299, 0, 42, 7, 123, 256, 3, 42, 88];
const TAPS = QWEN3_TAP_LAYERS.length;

/**
 * CPU reference features for the checkpoint in `dir`. Read without mmap so
 * the host weights outlive the closed checkpoint (mapped views detach).
 */
async function reference(dir: string) {
  const config = parseQwen3Config(await Deno.readTextFile(`${dir}/config.json`), "config.json");
  const ckpt = await Checkpoint.open(dir, { stem: "model", platform: readPlatform });
  try {
    const host = await loadQwen3HostWeights(ckpt, config);
    return { host, ...qwen3EncodeRef(host, IDS) };
  } finally {
    ckpt.close();
  }
}

for (const format of ["f32", "bf16", "nf4", "nf4-double", "fp8", "int8"] as TinyFormat[]) {
  Deno.test(`qwen3 encoder (${format}) matches the CPU reference`, async () => {
    const ctx = await testGpu();
    await withTinyQwen3({ format, seed: 3 }, async (dir) => {
      const ref = await reference(dir);
      const enc = await Qwen3TextEncoder.load(ctx, dir, { activations: "f32" });
      assertEquals(
        enc.config.format,
        format.startsWith("nf4") ? "nf4" : format === "fp8" ? "fp8" : "dense",
      );
      const feats = enc.encodeFeatures(IDS);
      assertEquals(feats.shape, [IDS.length, TAPS * TINY_QWEN3.hidden]);
      const got = await feats.toF32();
      const e = relErr(got, ref.features);
      console.log(`  ${format} f32: relative error ${e.toExponential(2)}`);
      assertClose(got, ref.features, TOL.f32, `features ${format}`);
      feats.release();
      enc.release();
    });
  });
}

for (const format of ["fp8", "nf4"] as const) {
  Deno.test(`qwen3 encoder ${format}: bf16 parity rounds decoded weights as the reference`, async () => {
    const ctx = await testGpu();
    await withTinyQwen3({ format, seed: 5 }, async (dir) => {
      const config = parseQwen3Config(await Deno.readTextFile(`${dir}/config.json`), "config.json");
      const ckpt = await Checkpoint.open(dir, { stem: "model", platform: readPlatform });
      const raw = await loadQwen3HostWeights(ckpt, config, { torchBf16: false });
      ckpt.close();
      const refTorch = qwen3EncodeRef(withTorchBf16Weights(raw), IDS).features;
      const refExact = qwen3EncodeRef(raw, IDS).features;
      for (const torchBf16 of [true, false]) {
        const enc = await Qwen3TextEncoder.load(ctx, dir, { torchBf16 });
        const feats = enc.encodeFeatures(IDS);
        const got = await feats.toF32();
        const want = torchBf16 ? refTorch : refExact;
        console.log(`  torchBf16 ${torchBf16}: ${relErr(got, want).toExponential(2)}`);
        assertClose(got, want, TOL.f32, `${format} features, torchBf16 ${torchBf16}`);
        feats.release();
        enc.release();
      }
      const gap = relErr(refExact, refTorch);
      console.log(`  exact vs bf16 ${format} decode: ${gap.toExponential(2)}`);
      assert(gap > 10 * TOL.f32, `bf16 rounding changes the features (${gap})`);
    });
  });
}

Deno.test("qwen3 encoder with f16 activations stays close to the CPU reference", async () => {
  const ctx = await testGpu();
  if (!ctx.features.f16) return;
  await withTinyQwen3({ format: "nf4-double", seed: 4 }, async (dir) => {
    const ref = await reference(dir);
    const enc = await Qwen3TextEncoder.load(ctx, dir, { activations: "f16" });
    const feats = enc.encodeFeatures(IDS);
    const got = await feats.toF32();
    console.log(`  nf4 f16: relative error ${relErr(got, ref.features).toExponential(2)}`);
    assertClose(got, ref.features, TOL.f16, "features f16");
    feats.release();
    enc.release();
  });
});

Deno.test("features hold the hidden state after tap layer t at column h*13 + t", async () => {
  const ctx = await testGpu();
  await withTinyQwen3(
    { format: "f32", seed: 5, prefix: "language_model.", ropeParameters: true },
    async (dir) => {
      const ref = await reference(dir);
      const enc = await Qwen3TextEncoder.load(ctx, dir, { activations: "f32" });
      const feats = enc.encodeFeatures(Int32Array.from(IDS));
      const got = await feats.toF32();
      const H = TINY_QWEN3.hidden, L = IDS.length;
      for (const [t, layer] of QWEN3_TAP_LAYERS.entries()) {
        // Independent of the tap bookkeeping: run exactly layer+1 layers on the CPU.
        const want = qwen3HiddenRef(ref.host, IDS, layer + 1);
        const column = new Float32Array(L * H);
        for (let l = 0; l < L; l++) {
          for (let h = 0; h < H; h++) column[l * H + h] = got[l * H * TAPS + h * TAPS + t];
        }
        assertClose(column, want, TOL.f32, `tap ${t} (after layer ${layer})`);
        // The layer before differs, so a tap taken one layer early would fail.
        assert(
          relErr(qwen3HiddenRef(ref.host, IDS, layer), want) > 1e-2,
          `layer ${layer} distinct`,
        );
      }
      feats.release();
      enc.release();
    },
  );
});

Deno.test("qwen3 encoder loads a sharded checkpoint (index + shards)", async () => {
  const ctx = await testGpu();
  await withTinyQwen3({ format: "bf16", seed: 8 }, async (dir) => {
    const ref = await reference(dir);
    await Deno.remove(`${dir}/model.safetensors`);
    const files = writeShardedSafetensors(tinyQwen3Tensors({ format: "bf16", seed: 8 }), {
      stem: "model",
      shards: 3,
    });
    for (const [name, bytes] of files) await Deno.writeFile(`${dir}/${name}`, bytes);
    const enc = await Qwen3TextEncoder.load(ctx, dir, { activations: "f32" });
    const feats = enc.encodeFeatures(IDS);
    assertClose(await feats.toF32(), ref.features, TOL.f32, "features from shards");
    feats.release();
    enc.release();
  });
});

Deno.test("loading never reads the vision tower, lm_head or the final norm", async () => {
  const ctx = await testGpu();
  await withTinyQwen3({ format: "nf4", seed: 6 }, async (dir) => {
    const config = parseQwen3Config(await Deno.readTextFile(`${dir}/config.json`), "config.json");
    // Make the vision tower visible so only the encoder's own restraint keeps it unread.
    const ckpt = await Checkpoint.open(dir, { stem: "model", include: () => true });
    assert(ckpt.has("model.visual.blocks.0.attn.qkv.weight"), "visual tensors visible");
    const seen = new Set<string>();
    const enc = await Qwen3TextEncoder.load(ctx, recording(ckpt, seen), { config });
    const bad = [...seen].filter((n) =>
      !n.startsWith("model.language_model.layers.") &&
      n !== "model.language_model.embed_tokens.weight"
    );
    assertEquals(bad, [], "tensors read outside the language model's layers and embedding");
    assert(seen.has("model.language_model.layers.35.mlp.down_proj.weight"), "layer 35 loaded");
    enc.release();
    ckpt.close();
  });
});

Deno.test("release frees every weight; encoding afterwards is an error", async () => {
  const ctx = await testGpu();
  await withTinyQwen3({ format: "fp8", seed: 7 }, async (dir) => {
    await ctx.sync();
    const before = ctx.pool.stats.liveBytes;
    const enc = await Qwen3TextEncoder.load(ctx, dir, { activations: "f32" });
    assert(ctx.pool.stats.liveBytes > before, "weights are resident after load");
    // The whole forward is recorded without a submit (no readback or sync inside).
    await ctx.sync();
    const [submits, dispatches] = [ctx.submitCount, ctx.dispatchCount];
    const feats = enc.encodeFeatures(IDS);
    assertEquals(ctx.submitCount - submits, 0, "submits while recording the forward");
    console.log(`  one forward: ${ctx.dispatchCount - dispatches} dispatches, 0 submits`);
    feats.release();
    enc.release();
    await ctx.sync();
    assertEquals(ctx.pool.stats.liveBytes, before, "live bytes after release");
    await assertRejects(() => enc.encodeFeatures(IDS), "after release");
  });
});

Deno.test("bad checkpoints give errors naming the file and tensor", async () => {
  const ctx = await testGpu();
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(tinyQwen3Config("bf16")));
    const write = (t: ReturnType<typeof tinyQwen3Tensors>) =>
      Deno.writeFile(`${dir}/model.safetensors`, writeSafetensors(t));

    const missing = tinyQwen3Tensors({ format: "bf16" });
    delete missing["model.language_model.layers.17.self_attn.k_norm.weight"];
    await write(missing);
    await assertRejects(
      () => Qwen3TextEncoder.load(ctx, dir),
      "model.language_model.layers.17.self_attn.k_norm.weight",
      dir,
    );

    const wrong = tinyQwen3Tensors({ format: "bf16" });
    const name = "model.language_model.layers.2.self_attn.q_proj.weight";
    wrong[name] =
      tinyQwen3Tensors({ format: "bf16" })["model.language_model.layers.2.self_attn.k_proj.weight"];
    await write(wrong);
    await assertRejects(
      () => Qwen3TextEncoder.load(ctx, dir),
      name,
      "model.safetensors",
      "[32, 64]",
    );

    await write(tinyQwen3Tensors({ format: "bf16" }));
    const enc = await Qwen3TextEncoder.load(ctx, dir, { activations: "f32" });
    await assertRejects(() => enc.encodeFeatures([1, TINY_QWEN3.vocab]), `id ${TINY_QWEN3.vocab}`);
    enc.release();
  });
});

Deno.test("qwen3 config: nested or flat, rope_theta anywhere, clear errors", async () => {
  const nested = tinyQwen3Config("nf4-double", true);
  const c = parseQwen3Config(JSON.stringify(nested), "te/config.json");
  assertEquals(
    [c.hiddenSize, c.numLayers, c.numHeads, c.numKvHeads, c.headDim, c.intermediateSize],
    [64, 36, 4, 2, 16, 96],
  );
  assertEquals([c.ropeTheta, c.vocabSize, c.rmsNormEps, c.format], [5e6, 300, 1e-6, "nf4"]);
  const flat = {
    ...(nested.text_config as Record<string, unknown>),
    ideogram_fp8_weight_only: true,
  };
  assertEquals(parseQwen3Config(JSON.stringify(flat), "f.json").format, "fp8");

  const text = { ...(nested.text_config as Record<string, unknown>) };
  delete text.hidden_size;
  await assertRejects(
    () => parseQwen3Config(JSON.stringify({ text_config: text }), "te/config.json"),
    "te/config.json",
    "text_config.hidden_size",
  );
  delete text.rope_parameters;
  text.hidden_size = 64;
  await assertRejects(
    () => parseQwen3Config(JSON.stringify({ text_config: text }), "x.json"),
    "x.json",
    "rope_theta",
  );
  await assertRejects(
    () =>
      parseQwen3Config(
        JSON.stringify({ ...flat, num_hidden_layers: 35 }),
        "x.json",
      ),
    "num_hidden_layers",
    "35",
  );
  await assertRejects(() => parseQwen3Config("{", "bad.json"), "bad.json", "not valid JSON");
  await assertRejects(
    () =>
      parseQwen3Config(
        JSON.stringify({
          ...flat,
          ideogram_fp8_weight_only: false,
          quantization_config: { quant_method: "gptq" },
        }),
        "q.json",
      ),
    "q.json",
    "quantization_config",
  );
});
