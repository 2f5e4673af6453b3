/**
 * Soak: 20 generations through the library in one process (embedded model,
 * 256², 1 step, the text encoder loaded and freed every time) with no growth
 * of the buffer pool's live bytes (same prompt length each time: the DiTs
 * keep a small LRU cache of rope tables per sequence layout, which grows by
 * design up to its bound with new lengths), and 5 concurrent CLI runs on one fresh
 * cache (each may build the embedded model) all writing a valid PNG.
 */
import { assert, assertEquals } from "../assert.ts";
import { withTempDir } from "../io/io_util.ts";
import { testGpu } from "../util.ts";
import { decodePngRgb } from "../../src/image/png.ts";
import { ensureEmbeddedModel } from "../../src/platform/deno/embedded_model.ts";
import { Ideogram4Pipeline } from "../../mod.ts";
import { EMBEDDED_MODEL_VERSION } from "../../src/tiny/model.ts";
import { latentNormTable } from "../../src/pipeline/latents.ts";

Deno.test("soak: 20 library generations leave the pool's live bytes where the first left them", async () => {
  const ctx = await testGpu();
  latentNormTable(ctx);
  const pipe = await Ideogram4Pipeline.open(ctx, await ensureEmbeddedModel());
  const live: number[] = [], allocated: number[] = [];
  try {
    for (let i = 0; i < 20; i++) {
      const img = await pipe.generate({
        // One prompt (one token count): the DiTs' rope tables are cached per layout.
        prompt: "a soak test",
        width: 256,
        height: 256,
        steps: 1,
        seed: i,
      });
      assertEquals(img.rgb.length, 256 * 256 * 3);
      await ctx.sync();
      live.push(ctx.pool.stats.liveBytes);
      allocated.push(ctx.pool.stats.allocatedBytes);
    }
  } finally {
    pipe.release();
  }
  // After the first run the DiTs and the VAE stay loaded; nothing else may stay live.
  assertEquals(new Set(live).size, 1, `live bytes per run: ${live.join(", ")}`);
  // The free list is reused, not grown: no more buffers exist at the end than after run 2.
  assert(allocated[19] <= allocated[1], `allocated bytes per run: ${allocated.join(", ")}`);
});

Deno.test("soak: 5 concurrent CLI runs on one fresh cache all write a valid PNG", async () => {
  await withTempDir(async (dir) => {
    const cli = new URL("../../cli.ts", import.meta.url).pathname;
    const runs = [0, 1, 2, 3, 4].map((i) =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          cli,
          "generate",
          "--prompt",
          `run ${i}`,
          "--steps",
          "1",
          "--seed",
          `${i}`,
          "--output",
          `${dir}/out${i}.png`,
          "-q",
        ],
        env: { IDEOGRAM4_CACHE: `${dir}/cache` },
        stdout: "piped",
        stderr: "piped",
      }).output()
    );
    const results = await Promise.all(runs);
    results.forEach((r, i) =>
      assertEquals(r.code, 0, `run ${i}: ${new TextDecoder().decode(r.stderr)}`)
    );
    for (let i = 0; i < 5; i++) {
      const img = decodePngRgb(await Deno.readFile(`${dir}/out${i}.png`));
      assertEquals([img.width, img.height, img.rgb.length], [256, 256, 256 * 256 * 3]);
    }
    const names: string[] = [];
    for await (const e of Deno.readDir(`${dir}/cache`)) names.push(e.name);
    assertEquals(names, [`embedded-${EMBEDDED_MODEL_VERSION}`]);
  });
});
