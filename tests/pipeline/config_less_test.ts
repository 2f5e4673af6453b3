/**
 * Checkpoint folders in upstream's layouts without the DiTs' and the VAE's
 * `config.json` (upstream never reads them): `--dry-run` passes and
 * `generate` writes the same image as from the same folder with its configs,
 * in every weight format, with single files and with index + shards. The tiny
 * model here is sized so that what shapes cannot tell equals upstream's
 * constants (src/tiny/model.ts, `upstreamConstants`). A shipped `config.json`
 * that disagrees with the shapes is named: key, value, tensor, shape.
 */
import { qwen3TokenizerFiles } from "../../src/platform/deno/embedded_model.ts";
import { checkCheckpoint } from "../../src/pipeline/checkpoint_check.ts";
import { tinyModelFiles } from "../../src/tiny/model.ts";
import type { TinyFormat } from "../../src/tiny/qwen3.ts";
import { assert, assertEquals } from "../assert.ts";
import { gen } from "../cli/cli_util.ts";
import { withTempDir } from "../io/io_util.ts";

const TOKENIZER = await qwen3TokenizerFiles();
const CONFIGS = ["transformer", "unconditional_transformer", "vae"].map((f) => `${f}/config.json`);

async function writeModel(dir: string, format: TinyFormat, shardedDiTs: boolean) {
  const files = tinyModelFiles(TOKENIZER, { format, upstreamConstants: true, shardedDiTs });
  for (const [path, bytes] of files) {
    const full = `${dir}/${path}`;
    await Deno.mkdir(full.slice(0, full.lastIndexOf("/")), { recursive: true });
    await Deno.writeFile(full, bytes);
  }
}

const ARGS = ["--prompt", "a red cube", "--width", "64", "--height", "48", "--steps", "2"];

for (
  const [format, sharded] of [["bf16", false], ["nf4", true], ["fp8", false]] as [
    TinyFormat,
    boolean,
  ][]
) {
  const how = sharded ? "index + shards" : "single files";
  Deno.test(`no DiT/VAE config.json (${format}, ${how}): dry run passes, same image`, async () => {
    await withTempDir(async (root) => {
      const dir = `${root}/model`;
      await writeModel(dir, format, sharded);
      const withConfigs = await gen(["--model", dir, ...ARGS, "--output", `${root}/a.png`]);
      assertEquals(withConfigs.code, 0, withConfigs.err.join("\n"));
      for (const f of CONFIGS) await Deno.remove(`${dir}/${f}`);

      const check = await checkCheckpoint(dir);
      assertEquals(check.problems, []);
      const dry = await gen(["--model", dir, "--dry-run", "--width", "64", "--height", "48"]);
      assertEquals(dry.code, 0, dry.err.join("\n"));
      assert(dry.out.some((l) => l.includes("every tensor matches the architecture")));

      const without = await gen(["--model", dir, ...ARGS, "--output", `${root}/b.png`]);
      assertEquals(without.code, 0, without.err.join("\n"));
      const a = await Deno.readFile(`${root}/a.png`), b = await Deno.readFile(`${root}/b.png`);
      assertEquals(b, a, "the same image without the configs");
      // 64x48 is outside upstream's recommended sizes: one warning, naming why.
      const warnings = without.err.filter((l) => l.startsWith("warning: 64x48"));
      assertEquals(warnings.length, 1, without.err.join("\n"));
      assert(warnings[0].includes("256…2048"), warnings[0]);
    });
  });
}

Deno.test("a shipped config.json that disagrees with the shapes is named", async () => {
  await withTempDir(async (root) => {
    const dir = `${root}/model`;
    await writeModel(dir, "nf4", false);
    const dit = `${dir}/transformer/config.json`;
    const config = JSON.parse(await Deno.readTextFile(dit));
    await Deno.writeTextFile(dit, JSON.stringify({ ...config, intermediate_size: 12288 }));
    const vae = `${dir}/vae/config.json`;
    const vaeConfig = JSON.parse(await Deno.readTextFile(vae));
    await Deno.writeTextFile(vae, JSON.stringify({ ...vaeConfig, out_channels: 4 }));
    const check = await checkCheckpoint(dir);
    const text = check.problems.join("\n");
    for (
      const part of [
        `${dit}: "intermediate_size" is 12288, but the weights have 192`,
        "tensor 'layers.0.feed_forward.w1.weight' [192, 128]",
        `${vae}: "out_channels" is 4, but the weights have 3`,
        "tensor 'decoder.conv_out.weight' [3, 32, 3, 3]",
      ]
    ) assert(text.includes(part), `problems lack "${part}":\n${text}`);
    const dry = await gen(["--model", dir, "--dry-run"]);
    assertEquals(dry.code, 1);
    assert(dry.err.join("\n").includes('"intermediate_size" is 12288'), dry.err.join("\n"));
  });
});
