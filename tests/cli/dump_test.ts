/**
 * `dump`: on a small random checkpoint it writes every output with the
 * shapes meta.json describes, finite and not constant, and the conditional
 * velocity equals a DiT forward run here on the dumped features and noise
 * (the file holds what the model computes, not something else); bad flags
 * exit 2.
 */
import { assert, assertEquals } from "../assert.ts";
import { withTempDir } from "../io/io_util.ts";
import { runMakeCheckpoint } from "../../src/cli/make_checkpoint.ts";
import { runDump } from "../../src/cli/dump_command.ts";
import { readNpy } from "../../src/pipeline/npy.ts";
import { GpuContext } from "../../src/gpu/context.ts";
import { Tensor } from "../../src/gpu/tensor.ts";
import { DiT } from "../../src/models/dit.ts";
import { setPlatform } from "../../src/platform/mod.ts";
import { denoPlatform } from "../../src/platform/deno.ts";

setPlatform(denoPlatform());

Deno.test("dump: every output, with its shape; the cond velocity is the DiT's", async () => {
  await withTempDir(async (tmp) => {
    const ck = `${tmp}/ck`, out = `${tmp}/dump`;
    assertEquals(await runMakeCheckpoint(["--format", "fp8", "--small", "--out", ck, "-q"]), 0);
    const args = ["--model", ck, "--out", out, "--width", "256", "--height", "256"];
    assertEquals(await runDump([...args, "--prompt", "a red kite over the sea", "--t", "0.4"]), 0);
    const meta = JSON.parse(Deno.readTextFileSync(`${out}/meta.json`));
    const L = meta.ids.length, tokens = 16 * 16;
    const want: Record<string, number[]> = {
      "features.npy": [L, 13 * 64],
      "noise.npy": [tokens, 128],
      "velocity_cond.npy": [tokens, 128],
      "velocity_uncond.npy": [tokens, 128],
      "vae_latent.npy": [32, 32, 32],
      "pixels.npy": [256, 256, 3],
    };
    const arrays: Record<string, Float32Array> = {};
    for (const [name, shape] of Object.entries(want)) {
      const a = readNpy(Deno.readFileSync(`${out}/${name}`), name);
      assertEquals(a.shape, shape, name);
      const d = a.data as Float32Array;
      assert(d.every(Number.isFinite), `${name}: non-finite values`);
      assert(d.some((v) => v !== d[0]), `${name}: constant`);
      arrays[name] = d;
    }
    for (const k of ["encode", "cond", "uncond", "vae"]) assert(meta.times_ms[k] > 0, k);
    assert(meta.peak_gpu_bytes > 0);

    const ctx = await GpuContext.create();
    try {
      const dit = await DiT.load(ctx, `${ck}/transformer`, { torchBf16: false });
      const latents = Tensor.fromF32(ctx, arrays["noise.npy"], [tokens, 128]);
      const features = Tensor.fromF32(ctx, arrays["features.npy"], [L, 13 * 64]);
      const v = dit.forward(ctx, { latents, features, t: 0.4, gh: 16, gw: 16 });
      const got = await v.toF32(), dumped = arrays["velocity_cond.npy"];
      let err = 0, norm = 0;
      for (let i = 0; i < got.length; i++) {
        err += (got[i] - dumped[i]) ** 2;
        norm += dumped[i] ** 2;
      }
      assert(Math.sqrt(err / norm) < 1e-6, `velocity differs: ${Math.sqrt(err / norm)}`);
      for (const t of [v, latents, features]) t.release();
      dit.release();
    } finally {
      ctx.destroy();
    }
  });
});

Deno.test("dump: bad flags exit 2", async () => {
  assertEquals(await runDump(["--out", "/nonexistent/x"]), 2);
  assertEquals(await runDump(["--model", "m"]), 2);
  assertEquals(await runDump(["--model", "m", "--out", "o", "--width", "100"]), 2);
  assertEquals(await runDump(["--model", "m", "--out", "o", "--t", "2"]), 2);
  assertEquals(await runDump(["--model", "m", "--out", "o", "--stages", "unet"]), 2);
  assertEquals(await runDump(["--model", "m", "--out", "o", "--bogus"]), 2);
});
