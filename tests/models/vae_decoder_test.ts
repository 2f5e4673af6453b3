import type { GpuContext } from "../../src/gpu/context.ts";
import { Tensor } from "../../src/gpu/tensor.ts";
import { Checkpoint } from "../../src/io/checkpoint.ts";
import { denseTensor } from "../../src/io/quantize.ts";
import {
  FLUX2_VAE_DECODER,
  parseVaeConfig,
  vaeMidChannels,
  vaeScaleFactor,
  vaeUpBlocks,
} from "../../src/models/vae_config.ts";
import { loadVaeDecoder, type VaeDecoder } from "../../src/models/vae_decoder.ts";
import { vaeDecodeRef } from "../../src/models/vae_decoder_ref.ts";
import { loadVaeDecoderWeights } from "../../src/models/vae_weights.ts";
import { toRgb8Ref } from "../../src/ops/to_rgb8_ref.ts";
import { setPlatform } from "../../src/platform/mod.ts";
import { assert, assertEquals, assertRejects } from "../assert.ts";
import { mmapPlatform, readPlatform, withTempDir } from "../io/io_util.ts";
import { assertClose, randn, relErr, testGpu, TOL } from "../util.ts";
import {
  TINY_VAE_CONFIG,
  type TinyVaeOptions,
  tinyVaeTensors,
  withTinyVae,
  writeTinyVae,
} from "./tiny_vae.ts";

setPlatform(mmapPlatform);

const Z = TINY_VAE_CONFIG.latent_channels;

/** CPU reference image for the checkpoint in `dir` (weights read without mmap). */
async function reference(dir: string, latent: Float32Array, h: number, w: number) {
  const config = parseVaeConfig(await Deno.readTextFile(`${dir}/config.json`), "config.json");
  const ckpt = await Checkpoint.open(dir, { platform: readPlatform });
  try {
    return vaeDecodeRef(await loadVaeDecoderWeights(ckpt, config), latent, h, w);
  } finally {
    ckpt.close();
  }
}

/** Max abs difference and how many bytes differ. */
function byteDiff(a: Uint8Array, b: Uint8Array): { max: number; count: number } {
  let max = 0, count = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    max = Math.max(max, d);
    if (d > 0) count++;
  }
  return { max, count };
}

/** Decodes and reads back the float image, reporting the activation peak (bytes above the weights). */
async function decodeF32(
  ctx: GpuContext,
  dec: VaeDecoder,
  latent: Tensor,
  maxBindingBytes?: number,
): Promise<{ pixels: Float32Array; peak: number; shape: readonly number[] }> {
  await ctx.sync();
  ctx.pool.resetPeak();
  const before = ctx.pool.stats.liveBytes;
  const out = dec.decode(latent, { maxBindingBytes });
  const shape = out.shape;
  const pixels = await out.toF32();
  out.release();
  return { pixels, peak: ctx.pool.stats.peakBytes - before, shape };
}

for (
  const [what, opts] of [
    ["f32 weights", { dtype: "F32", seed: 11 }],
    ["bf16 weights, conv-shaped attention", { dtype: "BF16", seed: 12, attentionAsConv: true }],
  ] as [string, TinyVaeOptions][]
) {
  Deno.test(`VAE decoder (${what}) matches the CPU reference`, async () => {
    const ctx = await testGpu();
    await withTinyVae(opts, async (dir) => {
      const [h, w] = [4, 6];
      const latentHost = randn(h * w * Z, 21);
      const ref = await reference(dir, latentHost, h, w);
      assertEquals([ref.height, ref.width], [32, 48]);
      const dec = await loadVaeDecoder(ctx, dir);
      const latent = Tensor.fromF32(ctx, latentHost, [h, w, Z], "f32", "latent");
      const { pixels, peak, shape } = await decodeF32(ctx, dec, latent);
      assertEquals(shape, [32, 48, 3]);
      const e = relErr(pixels, ref.pixels);
      console.log(
        `  ${what}: float image relative error ${e.toExponential(2)}, ` +
          `activation peak ${(peak / 1024).toFixed(1)} KiB`,
      );
      assertClose(pixels, ref.pixels, TOL.f32, `image (${what})`);
      // The image must exercise the conversion: spread out, partly clamped, not all.
      const clamped = ref.pixels.filter((v) => Math.abs(v) >= 1).length / ref.pixels.length;
      assert(clamped > 0 && clamped < 0.5, `clamped fraction ${clamped}`);

      const rgb = await dec.decodeToRgb8(latent);
      const want = toRgb8Ref(ref.pixels);
      assertEquals(rgb.length, 32 * 48 * 3);
      const d = byteDiff(rgb, want);
      console.log(
        `  ${what}: uint8 image: ${d.count} of ${rgb.length} bytes differ, by ≤ ${d.max}`,
      );
      assert(
        d.max <= 1 && d.count <= rgb.length * 1e-3,
        `uint8 image differs: ${JSON.stringify(d)}`,
      );
      // The caller's latent is neither modified nor released.
      assertEquals(Array.from(await latent.toF32()), Array.from(latentHost));
      latent.release();
      dec.release();
    });
  });
}

Deno.test("banded decode equals the whole-image decode and the CPU reference", async () => {
  const ctx = await testGpu();
  await withTinyVae({ seed: 13 }, async (dir) => {
    const dec = await loadVaeDecoder(ctx, dir);
    // [latent h, w, limit]: upper levels banded; then a tall latent where every level is.
    for (const [h, w, limit] of [[4, 6, 12000], [16, 2, 4000]]) {
      const latentHost = randn(h * w * Z, 30 + h);
      const latent = Tensor.fromF32(ctx, latentHost, [h, w, Z], "f32", "latent");
      const plan = dec.bandPlan(h, w, { maxBindingBytes: limit });
      const counts = plan.map((p) => p.length);
      assertEquals(dec.bandPlan(h, w).map((p) => p.length), [1, 1, 1, 1]);
      assert(counts.slice(1).every((n) => n >= 2), `bands per level ${counts}`);
      if (h === 16) assert(counts[0] >= 2, `latent level banded: ${counts}`);
      const whole = await decodeF32(ctx, dec, latent);
      const banded = await decodeF32(ctx, dec, latent, limit);
      const eBand = relErr(banded.pixels, whole.pixels);
      let maxAbs = 0;
      for (let i = 0; i < whole.pixels.length; i++) {
        maxAbs = Math.max(maxAbs, Math.abs(banded.pixels[i] - whole.pixels[i]));
      }
      const ref = await reference(dir, latentHost, h, w);
      const eRef = relErr(banded.pixels, ref.pixels);
      console.log(
        `  latent ${h}×${w}, limit ${limit} B, bands per level ${counts}: vs whole ` +
          `${eBand.toExponential(2)} (max abs ${maxAbs.toExponential(2)}), vs CPU ` +
          `${eRef.toExponential(2)}; peak ${(banded.peak / 1024).toFixed(1)} KiB banded, ` +
          `${(whole.peak / 1024).toFixed(1)} KiB whole`,
      );
      // Bands sum the GroupNorm statistics in another order: f32 rounding only.
      assert(eBand <= 1e-5, `banded vs whole: ${eBand}`);
      assertClose(banded.pixels, ref.pixels, TOL.f32, "banded image");
      latent.release();
    }
    dec.release();
  });
});

Deno.test("VAE decoder with f16 activations stays close to the CPU reference", async () => {
  const ctx = await testGpu();
  if (!ctx.features.f16) return;
  await withTinyVae({ dtype: "BF16", seed: 14 }, async (dir) => {
    const [h, w] = [4, 6];
    const latentHost = randn(h * w * Z, 22);
    const ref = await reference(dir, latentHost, h, w);
    const dec = await loadVaeDecoder(ctx, dir, { dtype: "f16" });
    const latent = Tensor.fromF32(ctx, latentHost, [h, w, Z], "f32", "latent");
    const out = dec.decode(latent);
    assertEquals(out.dtype, "f16");
    const got = await out.toF32();
    out.release();
    const e = relErr(got, ref.pixels);
    // Each layer's f16 rounding (2^-11 relative) compounds over ~40 layers.
    console.log(`  f16 activations: relative error ${e.toExponential(2)}`);
    assertClose(got, ref.pixels, TOL.f16, "f16 image");
    const rgb = await dec.decodeToRgb8(latent);
    const d = byteDiff(rgb, toRgb8Ref(ref.pixels));
    console.log(`  f16 uint8: ${d.count} of ${rgb.length} bytes differ, by ≤ ${d.max}`);
    assert(d.max <= 2, `f16 uint8 image off by ${d.max}`);
    latent.release();
    dec.release();
  });
});

Deno.test("VAE config: Flux2 defaults and the derived block structure", () => {
  assertEquals(parseVaeConfig("{}", "config.json"), FLUX2_VAE_DECODER);
  const c = FLUX2_VAE_DECODER;
  assertEquals(vaeMidChannels(c), 512);
  assertEquals(vaeScaleFactor(c), 8);
  const blocks = vaeUpBlocks(c);
  assertEquals(blocks.map((b) => b.resnets.map((r) => [r.cin, r.cout])), [
    [[512, 512], [512, 512], [512, 512]],
    [[512, 512], [512, 512], [512, 512]],
    [[512, 256], [256, 256], [256, 256]],
    [[256, 128], [128, 128], [128, 128]],
  ]);
  assertEquals(blocks.map((b) => b.upsample), [true, true, true, false]);
});

Deno.test("VAE config errors name the file and the key", async () => {
  await assertRejects(
    () => parseVaeConfig(JSON.stringify({ norm_num_groups: 3 }), "vae/config.json"),
    "vae/config.json",
    "norm_num_groups",
  );
  await assertRejects(
    () => parseVaeConfig(JSON.stringify({ layers_per_block: 0 }), "vae/config.json"),
    '"layers_per_block" is 0',
  );
  await assertRejects(
    () => parseVaeConfig(JSON.stringify({ block_out_channels: [128, 1024] }), "c.json"),
    "attention",
    "1024",
  );
  await assertRejects(() => parseVaeConfig("{", "c.json"), "c.json: not valid JSON");
});

Deno.test("VAE decoder: a missing or misshapen tensor names the file and the key", async () => {
  const ctx = await testGpu();
  const file = "diffusion_pytorch_model.safetensors";
  const missing = "decoder.up_blocks.2.resnets.0.conv_shortcut.bias";
  await withTempDir(async (dir) => {
    const tensors = tinyVaeTensors({ seed: 15 });
    delete tensors[missing];
    await writeTinyVae(dir, {}, tensors);
    await assertRejects(() => loadVaeDecoder(ctx, dir), file, `'${missing}'`);
  });
  await withTempDir(async (dir) => {
    const tensors = tinyVaeTensors({ seed: 16 });
    tensors["decoder.conv_in.weight"] = denseTensor(randn(32 * 32, 1), [32, 32, 1, 1]);
    await writeTinyVae(dir, {}, tensors);
    await assertRejects(
      () => loadVaeDecoder(ctx, dir),
      file,
      "'decoder.conv_in.weight' has shape [32, 32, 1, 1], expected [32, 32, 3, 3]",
    );
  });
  await withTempDir(async (dir) => {
    // Without config.json the widths come from the shapes and the 32 groups from
    // upstream's Flux2 values, which the tiny widths (8…32, 4 groups) do not split into.
    await writeTinyVae(dir, { seed: 17 });
    await Deno.remove(`${dir}/config.json`);
    await assertRejects(
      () => loadVaeDecoder(ctx, dir),
      "diffusion_pytorch_model.safetensors (no config.json: upstream's Flux2 values)",
      'block channels 8 do not split into "norm_num_groups" 32',
    );
    // A config.json that disagrees with the shapes is named: key, both values, tensor.
    await Deno.writeTextFile(
      `${dir}/config.json`,
      JSON.stringify({ block_out_channels: [8, 16, 32, 64], norm_num_groups: 4 }),
    );
    await assertRejects(
      () => loadVaeDecoder(ctx, dir),
      `${dir}/config.json: "block_out_channels" is [8,16,32,64], but the weights have [8,16,32,32]`,
      "'decoder.up_blocks.0.resnets.0.conv1.weight' [32, 32, 3, 3]",
    );
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify({ latent_channels: 16 }));
    await assertRejects(
      () => loadVaeDecoder(ctx, dir),
      '"latent_channels" is 16, but the weights have 32',
      "tensor 'decoder.conv_in.weight' [32, 32, 3, 3]",
    );
  });
});

Deno.test("VAE decoder rejects a latent of the wrong shape", async () => {
  const ctx = await testGpu();
  await withTinyVae({ seed: 18 }, async (dir) => {
    const dec = await loadVaeDecoder(ctx, dir);
    const bad = Tensor.fromF32(ctx, randn(4 * 6 * 16, 3), [4, 6, 16], "f32", "latent");
    await assertRejects(() => dec.decode(bad), "'latent' is [4, 6, 16]", "[h, w, 32]");
    bad.release();
    dec.release();
    await assertRejects(() => dec.decode(bad), "after release()");
  });
});
