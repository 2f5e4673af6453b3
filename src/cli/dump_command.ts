/**
 * `dump`: runs each component of a checkpoint once on fixed inputs and writes
 * what it produced as `.npy` files, with per-stage times and the peak GPU
 * memory, so another implementation (the PyTorch comparison in
 * `bench/gpu/compare_torch.py`) can check it on the same weights and inputs:
 *
 *   meta.json           prompt, token ids, sizes, t, seed, adapter, times, peak memory
 *   features.npy        text features [L, 13·hidden] (the text encoder's output)
 *   noise.npy           the DiT input latents [gh·gw, 128] (`gaussianNoise(seed)`)
 *   velocity_cond.npy   conditional DiT at time t, on features.npy [gh·gw, 128]
 *   velocity_uncond.npy unconditional DiT at time t [gh·gw, 128]
 *   vae_latent.npy      the VAE input [h/8, w/8, 32] (normal, seed + 1)
 *   pixels.npy          the VAE's float image [h, w, 3] before clamping
 *
 * Each stage is loaded, run twice (the first run compiles the kernels; the
 * second is timed) and freed before the next. Exit 2 for bad flags, 1 for a
 * missing or broken checkpoint.
 */
import { parseArgs } from "node:util";
import { GpuContext } from "../gpu/context.ts";
import { Tensor } from "../gpu/tensor.ts";
import { DiT } from "../models/dit.ts";
import { loadVaeDecoder } from "../models/vae_decoder.ts";
import { gaussianNoise } from "../pipeline/noise.ts";
import { writeNpy } from "../pipeline/npy.ts";
import { PromptEncoder } from "../pipeline/prompt_encoder.ts";
import { latentGrid, SizeError, validateSize } from "../pipeline/size.ts";
import { UsageError } from "./usage_error.ts";

export const DUMP_USAGE = `usage: dump --model DIR --out DIR [flags]

Runs the text encoder, both DiTs (one velocity each) and the VAE decoder of a
checkpoint once and writes their outputs as .npy files plus meta.json (inputs,
per-stage times, peak GPU memory), for comparison with another implementation.

  --model DIR          checkpoint folder in the published layout
  --out DIR            folder to write (created)
  --prompt TEXT        default: a fixed caption of about 300 tokens
  --width N, --height N  image size (default 1024x1024)
  --t X                flow time of the DiT evaluation (default 0.7)
  --seed N             seed of the DiT noise (default 0) and the VAE latent (seed + 1)
  --stages LIST        subset of encoder,dit,vae (default all; dit needs encoder)
  --torch-bf16         DiT with the bf16 reference's t / RoPE roundings (the pipeline's
                       default); without it the exact formulas, to compare with float32
`;

/** A JSON caption of about 300 tokens (the size issue 16 compares at). */
export const DEFAULT_DUMP_PROMPT = JSON.stringify({
  high_level_description:
    "A lighthouse on a rocky headland at dusk, its beam sweeping over a calm sea, " +
    "with fishing boats returning to a small harbour below and the first stars overhead.",
  style_description:
    "Painterly realism with soft edges, warm lamp light against cool blue shadows, " +
    "fine texture in the rocks and water, a wide cinematic composition.",
  compositional_deconstruction: [
    { type: "obj", bbox: [120, 80, 560, 940], description: "a white lighthouse with a red top" },
    { type: "obj", bbox: [600, 520, 980, 900], description: "three wooden fishing boats" },
    { type: "obj", bbox: [0, 0, 1000, 400], description: "a violet sky fading to orange" },
    { type: "text", bbox: [300, 860, 700, 960], text: "HARBOUR LIGHT", description: "serif" },
  ],
  background: "a calm sea under a dusk sky, distant hills on the horizon",
  color_palette: ["#1B2A49", "#F5C542", "#E07A5F", "#F4F1DE", "#3D405B"],
});

export async function runDump(args: string[]): Promise<number> {
  let opts;
  try {
    opts = parseFlags(args);
    if (opts === "help") {
      console.log(DUMP_USAGE);
      return 0;
    }
  } catch (e) {
    if (e instanceof UsageError || e instanceof SizeError || e instanceof TypeError) {
      console.error(`dump: ${e.message}\n\n${DUMP_USAGE}`);
      return 2;
    }
    throw e;
  }
  const { model, out, prompt, width, height, t, seed, stages, torchBf16 } = opts;
  const { gh, gw } = latentGrid(width, height);
  await Deno.mkdir(out, { recursive: true });
  const ctx = await GpuContext.create();
  const times: Record<string, number> = {};
  const meta: Record<string, unknown> = {
    model,
    prompt,
    width,
    height,
    gh,
    gw,
    t,
    seed,
    torch_bf16: torchBf16,
    adapter: ctx.describe(),
    date: new Date().toISOString(),
    times_ms: times,
  };
  const save = async (name: string, tensor: Tensor, shape: number[]) => {
    await Deno.writeFile(`${out}/${name}`, writeNpy(await tensor.toF32(), shape));
  };
  /** Runs `fn` twice (compile, then timed); returns the timed run's output. */
  const timed = async (key: string, fn: () => Tensor): Promise<Tensor> => {
    fn().release();
    await ctx.sync();
    const t0 = performance.now();
    const y = fn();
    await ctx.sync();
    times[key] = performance.now() - t0;
    return y;
  };
  try {
    let features: Tensor | undefined;
    if (stages.has("encoder")) {
      let t0 = performance.now();
      const enc = await PromptEncoder.load(ctx, model);
      times.encoder_load = performance.now() - t0;
      const ids = enc.tokenizer.encodePrompt(prompt).ids;
      meta.ids = [...ids];
      features = await timed("encode", () => enc.encoder.encodeFeatures(ids));
      t0 = performance.now();
      await save("features.npy", features, features.shape as number[]);
      times.encode_readback = performance.now() - t0;
      enc.release();
    }
    if (stages.has("dit")) {
      if (!features) throw new UsageError("--stages dit needs the encoder stage (its features)");
      const noise = gaussianNoise(seed, gh * gw * 128);
      await Deno.writeFile(`${out}/noise.npy`, writeNpy(noise, [gh * gw, 128]));
      const latents = Tensor.fromF32(ctx, noise, [gh * gw, 128], "f32", "dump latents");
      for (
        const [folder, key, withText] of [
          ["transformer", "cond", true],
          ["unconditional_transformer", "uncond", false],
        ] as const
      ) {
        const t0 = performance.now();
        const dit = await DiT.load(ctx, `${model}/${folder}`, {
          textConditioning: withText,
          torchBf16,
        });
        times[`${key}_load`] = performance.now() - t0;
        const f = withText ? features : undefined;
        const v = await timed(key, () => dit.forward(ctx, { latents, features: f, t, gh, gw }));
        await save(`velocity_${key}.npy`, v, [gh * gw, 128]);
        v.release();
        dit.release();
      }
      latents.release();
    }
    features?.release();
    if (stages.has("vae")) {
      const t0 = performance.now();
      const vae = await loadVaeDecoder(ctx, `${model}/vae`);
      times.vae_load = performance.now() - t0;
      const h = height / 8, w = width / 8, zc = vae.config.latentChannels;
      const z = gaussianNoise(seed + 1, h * w * zc);
      await Deno.writeFile(`${out}/vae_latent.npy`, writeNpy(z, [h, w, zc]));
      const latent = Tensor.fromF32(ctx, z, [h, w, zc], "f32", "dump vae latent");
      const img = await timed("vae", () => vae.decode(latent));
      const px = await img.toF32();
      await Deno.writeFile(`${out}/pixels.npy`, writeNpy(px, [height, width, 3]));
      for (const x of [img, latent]) x.release();
      vae.release();
    }
    meta.peak_gpu_bytes = ctx.pool.stats.peakBytes;
    await Deno.writeTextFile(`${out}/meta.json`, JSON.stringify(meta, null, 2) + "\n");
    const list = Object.entries(times).map(([k, v]) => `${k} ${(v / 1000).toFixed(3)} s`);
    console.error(`dump: wrote ${out} (${list.join(", ")})`);
    return 0;
  } finally {
    ctx.destroy();
  }
}

function parseFlags(args: string[]) {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: "string" },
      out: { type: "string" },
      prompt: { type: "string", default: DEFAULT_DUMP_PROMPT },
      width: { type: "string", default: "1024" },
      height: { type: "string", default: "1024" },
      t: { type: "string", default: "0.7" },
      seed: { type: "string", default: "0" },
      stages: { type: "string", default: "encoder,dit,vae" },
      "torch-bf16": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return "help" as const;
  if (!values.model) throw new UsageError("--model DIR is required");
  if (!values.out) throw new UsageError("--out DIR is required");
  const width = Number(values.width), height = Number(values.height);
  validateSize(width, height);
  const t = Number(values.t);
  if (!(t >= 0 && t <= 1)) throw new UsageError(`--t must be in [0, 1] (got ${values.t})`);
  const seed = Number(values.seed);
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new UsageError(`--seed must be a non-negative integer (got ${values.seed})`);
  }
  const stages = new Set(values.stages.split(","));
  for (const s of stages) {
    if (!["encoder", "dit", "vae"].includes(s)) {
      throw new UsageError(`--stages: unknown stage '${s}' (encoder, dit, vae)`);
    }
  }
  return {
    model: values.model,
    out: values.out,
    prompt: values.prompt,
    width,
    height,
    t,
    seed,
    stages,
    torchBf16: values["torch-bf16"],
  };
}
