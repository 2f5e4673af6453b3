/**
 * `make-checkpoint --small`: the random checkpoint passes the header checker,
 * has every byte written (no holes, and its Linears dequantize to weights of
 * the intended spread, never NaN), is the same for the same seed and differs
 * for another, generates an image end to end, and bad flags or an existing
 * folder exit 2 without writing anything. (The released sizes walk the same
 * code with larger numbers: the checker's real-size tests cover their lists.)
 */
import { assert, assertEquals } from "../assert.ts";
import { withTempDir } from "../io/io_util.ts";
import { apparentSize, diskUsage } from "../pipeline/sparse_checkpoint.ts";
import { runMakeCheckpoint } from "../../src/cli/make_checkpoint.ts";
import { checkCheckpoint } from "../../src/pipeline/checkpoint_check.ts";
import { Checkpoint } from "../../src/io/checkpoint.ts";
import { loadHostLinear } from "../../src/io/linear_loader.ts";
import { dequantizeRef } from "../../src/formats/mod.ts";
import { SMALL_DIMS } from "../../src/checkpoint/dims.ts";
import { CHECKPOINT_FORMATS } from "../../src/checkpoint/layout.ts";
import { gen } from "./cli_util.ts";

const make = (...args: string[]) => runMakeCheckpoint([...args, "--quiet"]);

/** Mean and standard deviation of a weight; throws on a non-finite value. */
function spread(name: string, w: Float32Array): { mean: number; std: number } {
  let s = 0, s2 = 0;
  for (const v of w) {
    if (!Number.isFinite(v)) throw new Error(`${name}: non-finite value ${v}`);
    s += v;
    s2 += v * v;
  }
  const mean = s / w.length;
  return { mean, std: Math.sqrt(s2 / w.length - mean * mean) };
}

async function checkLinears(dir: string, component: string, stem: string, names: string[]) {
  const store = await Checkpoint.open(`${dir}/${component}`, { stem });
  try {
    for (const name of names) {
      const w = await loadHostLinear(store, name);
      const { mean, std } = spread(name, dequantizeRef(w));
      const want = 1 / Math.sqrt(w.in);
      // nf4: equally likely codes average 0.023 (NF4's code book is not symmetric) × 2.5σ.
      assert(Math.abs(mean) < 0.1 * want, `${name}: mean ${mean}`);
      assert(std > 0.7 * want && std < 1.4 * want, `${name}: std ${std}, want ≈ ${want}`);
    }
  } finally {
    store.close();
  }
}

for (const format of CHECKPOINT_FORMATS) {
  Deno.test(`make-checkpoint --small ${format}: valid, no holes, plausible weights`, async () => {
    await withTempDir(async (tmp) => {
      const dir = `${tmp}/ck`;
      assertEquals(await make("--format", format, "--small", "--out", dir, "--seed", "3"), 0);
      const check = await checkCheckpoint(dir);
      assertEquals(check.problems, []);
      // Every byte written: disk use is the files' length (to a few pages per file).
      const apparent = await apparentSize(dir), used = await diskUsage(dir);
      assert(used >= 0.98 * apparent, `${used} bytes on disk for ${apparent}: holes`);
      const dit = SMALL_DIMS.dit;
      await checkLinears(dir, "transformer", "diffusion_pytorch_model", [
        "layers.0.attention.qkv.weight",
        `layers.${dit.numLayers - 1}.feed_forward.w2.weight`,
        "final_layer.linear.weight",
      ]);
      await checkLinears(dir, "text_encoder", "model", [
        "model.language_model.layers.0.self_attn.q_proj.weight",
        "model.language_model.layers.35.mlp.down_proj.weight",
      ]);
      // Nothing else left beside it (written under a temporary name, renamed).
      assertEquals([...Deno.readDirSync(tmp)].map((e) => e.name), ["ck"]);
    });
  });
}

Deno.test("make-checkpoint: same seed same bytes, another seed other bytes", async () => {
  await withTempDir(async (tmp) => {
    const file = "transformer/diffusion_pytorch_model-00001-of-00002.safetensors";
    for (const [name, seed] of [["a", "1"], ["b", "1"], ["c", "2"]]) {
      const args = ["--format", "nf4", "--small", "--components", "transformer", "--seed", seed];
      assertEquals(await make(...args, "--out", `${tmp}/${name}`), 0);
    }
    const [a, b, c] = ["a", "b", "c"].map((n) => Deno.readFileSync(`${tmp}/${n}/${file}`));
    assertEquals(a, b);
    assertEquals(a.length, c.length);
    let differ = 0;
    for (let i = 0; i < a.length; i++) if (a[i] !== c[i]) differ++;
    assert(differ > a.length / 2, `only ${differ} of ${a.length} bytes differ between seeds`);
  });
});

Deno.test("make-checkpoint --small nf4: generates an image end to end", async () => {
  await withTempDir(async (tmp) => {
    const dir = `${tmp}/ck`, png = `${tmp}/out.png`;
    assertEquals(await make("--format", "nf4", "--small", "--out", dir), 0);
    const r = await gen([
      "--model",
      dir,
      "--prompt",
      "a lighthouse at dusk",
      "--width",
      "256",
      "--height",
      "256",
      "--steps",
      "2",
      "--sampler-preset",
      "V4_TURBO_12",
      "-q",
      "--output",
      png,
    ]);
    assertEquals(r.code, 0, r.err.join("\n"));
    const bytes = Deno.readFileSync(png);
    assertEquals([...bytes.subarray(1, 4)], [0x50, 0x4e, 0x47]); // "PNG"
  });
});

Deno.test("make-checkpoint: bad flags and an existing folder exit 2, nothing written", async () => {
  await withTempDir(async (tmp) => {
    const out = `${tmp}/ck`;
    assertEquals(await make("--format", "int4", "--small", "--out", out), 2);
    assertEquals(await make("--small", "--out", out), 2);
    assertEquals(await make("--format", "nf4", "--small"), 2);
    assertEquals(await make("--format", "nf4", "--small", "--out", out, "--seed", "-1"), 2);
    assertEquals(
      await make("--format", "nf4", "--small", "--out", out, "--components", "vae,unet"),
      2,
    );
    assertEquals(await make("--format", "nf4", "--small", "--out", out, "--bogus"), 2);
    assertEquals([...Deno.readDirSync(tmp)], []);
    Deno.mkdirSync(out);
    Deno.writeTextFileSync(`${out}/keep.txt`, "mine");
    assertEquals(await make("--format", "nf4", "--small", "--out", out), 2);
    assertEquals([...Deno.readDirSync(out)].map((e) => e.name), ["keep.txt"]);
  });
});
