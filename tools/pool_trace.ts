/**
 * Prints, per scenario, a digest of the buffer pool's live bytes after every
 * allocation (and the peak): forwards whose release order changed but whose
 * memory behaviour must not (e.g. written with `ctx.scope` / `ctx.pipe`
 * instead of `release()` calls) print the same lines before and after.
 * Scenarios: two generations (nf4 resident, fp8 streamed), the DiT + Qwen3
 * forwards in f32 and f16, VAE decodes whole and in row bands.
 *
 *   deno run -A tools/pool_trace.ts [WORK_DIR] > trace.txt
 *
 * WORK_DIR holds the small checkpoints (`nf4/`, `fp8/`; made when missing,
 * the same ones `tools/image_hashes.ts` uses).
 */
import {
  createGpu,
  DiT,
  type GpuContext,
  Ideogram4Pipeline,
  loadVaeDecoder,
  Qwen3TextEncoder,
  Tensor,
} from "../mod.ts";

const work = Deno.args[0] ?? await Deno.makeTempDir({ prefix: "ig4-trace-" });
const cli = new URL("../cli.ts", import.meta.url).pathname;
for (const format of ["nf4", "fp8"]) {
  const dir = `${work}/${format}`;
  if (await Deno.stat(dir).then(() => true, () => false)) continue;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", cli, "make-checkpoint", "--format", format, "--small", "--out", dir, "-q"],
  }).output();
  if (!out.success) throw new Error(`make-checkpoint ${format} failed`);
}

/** Live bytes after each allocation on `ctx`, since the last report. */
let log: number[] = [];
function traced(ctx: GpuContext): GpuContext {
  const pool = ctx.pool, acquire = pool.acquire.bind(pool);
  pool.acquire = (bytes, label, exact) => {
    const r = acquire(bytes, label, exact);
    log.push(pool.stats.liveBytes);
    return r;
  };
  return ctx;
}

async function report(name: string): Promise<void> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new Float64Array(log)));
  const hex = [...digest.subarray(0, 8)].map((x) => x.toString(16).padStart(2, "0")).join("");
  console.log(`${name}: ${log.length} allocations, peak ${Math.max(...log)} B, trace ${hex}`);
  log = [];
}

const gens = [
  ["generate nf4 resident", "nf4", undefined, 128, 128],
  ["generate fp8 streamed", "fp8", { cond: "stream", uncond: "stream" }, 128, 96],
] as const;
for (const [name, dir, residency, width, height] of gens) {
  const ctx = traced(await createGpu());
  const pipe = await Ideogram4Pipeline.open(ctx, `${work}/${dir}`, residency ? { residency } : {});
  await pipe.generate({ prompt: "a red fox in the snow", width, height, steps: 2, seed: 5 });
  await report(name);
  pipe.release();
  ctx.destroy();
}

const ctx = traced(await createGpu());
const wave = (n: number, f: (i: number) => number) =>
  Float32Array.from({ length: n }, (_, i) => f(i));
for (const act of ["f32", "f16"] as const) {
  const dit = await DiT.load(ctx, `${work}/nf4/transformer`, { activations: act });
  const enc = await Qwen3TextEncoder.load(ctx, `${work}/nf4/text_encoder`, { activations: act });
  log = [];
  const features = enc.encodeFeatures([1, 2, 3, 4, 5]);
  const latents = Tensor.fromF32(ctx, wave(24 * 128, Math.sin), [24, 128]);
  const v = dit.forward(ctx, { latents, features, t: 0.3, gh: 6, gw: 4 });
  const u = dit.forward(ctx, { latents, t: 0.3, gh: 6, gw: 4 });
  for (const t of [features, latents, v, u]) t.release();
  await report(`qwen3 + dit forwards ${act}`);
  dit.release();
  enc.release();
}
for (
  const [dtype, maxBindingBytes] of [["f32", undefined], ["f32", 20000], ["f16", 9000]] as const
) {
  const vae = await loadVaeDecoder(ctx, `${work}/nf4/vae`, { dtype });
  log = [];
  const latent = Tensor.fromF32(ctx, wave(12 * 10 * 32, Math.cos), [12, 10, 32]);
  await vae.decodeToRgb8(latent, { maxBindingBytes });
  latent.release();
  await report(`vae decode ${dtype}${maxBindingBytes ? ` in bands (${maxBindingBytes} B)` : ""}`);
  vae.release();
}
ctx.destroy();
