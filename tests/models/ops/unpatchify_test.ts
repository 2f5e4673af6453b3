import { Tensor } from "../../../src/gpu/tensor.ts";
import { LATENT_NORM, latentNormTable } from "../../../src/pipeline/latents.ts";
import { unpatchifyLatents } from "../../../src/models/ops/unpatchify.ts";
import { unpatchifyRef } from "../../../src/models/ops/unpatchify_ref.ts";
import { assert, assertEquals, assertRejects } from "../../assert.ts";
import { assertClose, randn, testGpu } from "../../util.ts";

Deno.test("the latent normalisation table is the spec's, 128 channels each", async () => {
  const ctx = await testGpu();
  assertEquals([LATENT_NORM.scale.length, LATENT_NORM.shift.length], [128, 128]);
  assertEquals(LATENT_NORM.shift[0], Math.fround(0.01984364));
  assert(LATENT_NORM.scale.every((s) => s > 0), "scales are positive");
  const t = latentNormTable(ctx);
  assert(latentNormTable(ctx) === t, "one table per context");
  assertEquals(t.shape, [2, 128]);
  const host = await t.toF32();
  assertEquals(Array.from(host.subarray(0, 128)), Array.from(LATENT_NORM.scale));
  assertEquals(Array.from(host.subarray(128)), Array.from(LATENT_NORM.shift));
  t.release(); // a caller that releases it anyway gets a fresh upload next time
  const again = latentNormTable(ctx);
  assert(again !== t && !again.released, "re-uploaded after release");
});

Deno.test("unpatchifyLatents matches the reference on a 3×5 grid, and by hand", async () => {
  const ctx = await testGpu();
  for (const [gh, gw] of [[3, 5], [7, 2], [1, 1]]) {
    const n = gh * gw * 128;
    const zHost = randn(n, gh * 31 + gw);
    const z = Tensor.fromF32(ctx, zHost, [gh * gw, 128], "f32", "z");
    const out = unpatchifyLatents(ctx, z, gh, gw, latentNormTable(ctx));
    assertEquals([out.dtype, ...out.shape], ["f32", 2 * gh, 2 * gw, 32]);
    const got = await out.toF32();
    assertClose(
      got,
      unpatchifyRef(zHost, gh, gw, LATENT_NORM.scale, LATENT_NORM.shift),
      1e-6,
      `${gh}×${gw}`,
    );
    if (gh === 3) {
      // Token (gy 2, gx 3) = row 13; channel k = (py 1 · 2 + px 0) · 32 + c 17 = 81
      // → pixel (y 5, x 6) channel 17 = ((5 · 10) + 6) · 32 + 17 = 1809.
      const want = zHost[13 * 128 + 81] * LATENT_NORM.scale[81] + LATENT_NORM.shift[81];
      assert(Math.abs(got[1809] - want) <= 1e-6 * Math.abs(want) + 1e-7, `${got[1809]} vs ${want}`);
    }
    z.release();
    out.release();
  }
});

Deno.test("unpatchifyLatents rejects wrong shapes", async () => {
  const ctx = await testGpu();
  const z = Tensor.fromF32(ctx, randn(15 * 128, 1), [15, 128], "f32", "z");
  const norm = latentNormTable(ctx);
  await assertRejects(() => unpatchifyLatents(ctx, z, 4, 4, norm), "[15, 128]", "4×4", "[16, 128]");
  await assertRejects(() => unpatchifyLatents(ctx, z, 0, 15, norm), "0×15");
  const small = Tensor.fromF32(ctx, randn(128, 2), [1, 128], "f32", "small");
  await assertRejects(
    () => unpatchifyLatents(ctx, z, 3, 5, small),
    "'small' is [1, 128]",
    "[2, 128]",
  );
  for (const t of [z, small]) t.release();
});
