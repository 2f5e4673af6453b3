import { Checkpoint } from "../../src/io/checkpoint.ts";
import { denseTensor } from "../../src/io/quantize.ts";
import {
  type TensorMap,
  writeSafetensors,
  writeShardedSafetensors,
} from "../../src/io/safetensors_writer.ts";
import { browserPlatform } from "../../src/platform/browser.ts";
import type { Platform } from "../../src/platform/types.ts";
import { assert, assertEquals, assertRejects } from "../assert.ts";
import { randn } from "../util.ts";
import { DENO_PLATFORMS, mmapPlatform, withTempDir } from "./io_util.ts";

/** A small text-encoder-like set of tensors, vision tower included. */
function tensors(): TensorMap {
  return {
    "model.language_model.embed_tokens.weight": denseTensor(randn(50 * 8, 1), [50, 8], "BF16"),
    "model.language_model.layers.0.mlp.up_proj.weight": denseTensor(randn(24 * 8, 2), [24, 8]),
    "model.language_model.layers.0.input_layernorm.weight": denseTensor(randn(8, 3), [8], "F16"),
    "model.language_model.norm.weight": denseTensor(randn(8, 4), [8]),
    "lm_head.weight": denseTensor(randn(50 * 8, 5), [50, 8], "BF16"),
    "model.visual.patch_embed.proj.weight": denseTensor(randn(16, 6), [4, 4]),
  };
}

async function writeAll(dir: string, files: Map<string, Uint8Array<ArrayBuffer>>) {
  for (const [name, bytes] of files) await Deno.writeFile(`${dir}/${name}`, bytes);
}

async function checkContents(ckpt: Checkpoint) {
  const all = tensors();
  const visible = Object.keys(all).filter((n) => !n.startsWith("model.visual."));
  assertEquals(ckpt.names().sort(), visible.sort());
  for (const name of visible) {
    assert(ckpt.has(name), name);
    const bytes = await ckpt.bytes(name);
    assert(
      bytes.every((v, i) => v === all[name].data[i]) && bytes.length === all[name].data.length,
      name,
    );
    assertEquals(ckpt.info(name).shape, all[name].shape);
  }
  assertEquals(
    Array.from(await ckpt.f32("model.language_model.norm.weight")),
    Array.from(randn(8, 4)),
  );
  // The vision tower is invisible: not listed, not loadable.
  assert(!ckpt.has("model.visual.patch_embed.proj.weight"), "visual hidden");
  await assertRejects(() => ckpt.bytes("model.visual.patch_embed.proj.weight"), "hidden");
  await assertRejects(
    () => ckpt.bytes("model.language_model.norm.weihgt"),
    ckpt.name,
    "did you mean 'model.language_model.norm.weight'",
  );
}

Deno.test("checkpoint: sharded index, mmap and plain reads", async () => {
  await withTempDir(async (dir) => {
    const files = writeShardedSafetensors(tensors(), { stem: "model", shards: 3 });
    assertEquals(files.size, 4);
    const index = JSON.parse(new TextDecoder().decode(files.get("model.safetensors.index.json")));
    assertEquals(new Set(Object.values(index.weight_map)).size, 3, "three non-empty shards");
    await writeAll(dir, files);
    for (const platform of DENO_PLATFORMS) {
      const ckpt = await Checkpoint.open(dir, { stem: "model", platform });
      assert(ckpt.name.endsWith("model.safetensors.index.json"), ckpt.name);
      await checkContents(ckpt);
      ckpt.close();
    }
    // Found by listing when the stem is not given, or opened from the index path itself.
    for (const path of [dir, `${dir}/model.safetensors.index.json`]) {
      const ckpt = await Checkpoint.open(path, { platform: mmapPlatform });
      await checkContents(ckpt);
      ckpt.close();
    }
  });
});

Deno.test("checkpoint: a shard holding only the vision tower is never opened", async () => {
  await withTempDir(async (dir) => {
    const all = tensors();
    const vision = "model.visual.patch_embed.proj.weight";
    const { [vision]: visual, ...language } = all;
    await Deno.writeFile(`${dir}/m-1.safetensors`, writeSafetensors(language));
    await Deno.writeFile(`${dir}/m-2.safetensors`, new Uint8Array(3)); // would not even parse
    const weightMap = Object.fromEntries(Object.keys(language).map((n) => [n, "m-1.safetensors"]));
    weightMap[vision] = "m-2.safetensors";
    await Deno.writeTextFile(
      `${dir}/m.safetensors.index.json`,
      JSON.stringify({ weight_map: weightMap }),
    );
    const ckpt = await Checkpoint.open(dir, { stem: "m", platform: mmapPlatform });
    assertEquals(ckpt.files.length, 1);
    await checkContents(ckpt);
    ckpt.close();
    assert(visual.data.length > 0);
  });
});

Deno.test("checkpoint: one file by stem, by any name, several unindexed files", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/a`);
    await Deno.writeFile(
      `${dir}/a/diffusion_pytorch_model.safetensors`,
      writeSafetensors(tensors()),
    );
    await Deno.mkdir(`${dir}/b`);
    await Deno.writeFile(`${dir}/b/renamed.safetensors`, writeSafetensors(tensors()));
    await Deno.mkdir(`${dir}/c`);
    const [first, second] = [{} as TensorMap, {} as TensorMap];
    Object.entries(tensors()).forEach(([n, t], i) => ((i % 2) ? first : second)[n] = t);
    await Deno.writeFile(`${dir}/c/part1.safetensors`, writeSafetensors(first));
    await Deno.writeFile(`${dir}/c/part2.safetensors`, writeSafetensors(second));
    for (
      const path of [
        `${dir}/a`,
        `${dir}/b`,
        `${dir}/c`,
        `${dir}/a/diffusion_pytorch_model.safetensors`,
      ]
    ) {
      const ckpt = await Checkpoint.open(path, {
        stem: "diffusion_pytorch_model",
        platform: mmapPlatform,
      });
      await checkContents(ckpt);
      ckpt.close();
    }
  });
});

Deno.test("checkpoint: sharded index from registered browser Blobs", async () => {
  const files = writeShardedSafetensors(tensors(), { stem: "model", shards: 2 });
  const platform: Platform = browserPlatform({
    files: Object.fromEntries([...files].map(([n, b]) => [`text_encoder/${n}`, new Blob([b])])),
  });
  const ckpt = await Checkpoint.open("text_encoder", { platform });
  await checkContents(ckpt);
  ckpt.close();
});

Deno.test("checkpoint errors: missing shard, shard without its tensor, no weights, bad index", async () => {
  await withTempDir(async (dir) => {
    const files = writeShardedSafetensors(tensors(), { stem: "model", shards: 2 });
    await writeAll(dir, files);
    const index = `${dir}/model.safetensors.index.json`;
    const weightMap = JSON.parse(await Deno.readTextFile(index)).weight_map;
    const p = { stem: "model", platform: mmapPlatform };

    const shard2 = "model-00002-of-00002.safetensors";
    await Deno.rename(`${dir}/${shard2}`, `${dir}/moved.bin`);
    await assertRejects(() => Checkpoint.open(dir, p), index, shard2, "does not exist");
    await Deno.rename(`${dir}/moved.bin`, `${dir}/${shard2}`);

    // Point a shard-1 tensor at shard 2, which does not hold it.
    const moved = Object.keys(weightMap).find((n) =>
      weightMap[n] !== shard2 && !n.includes("visual")
    )!;
    await Deno.writeTextFile(
      index,
      JSON.stringify({ weight_map: { ...weightMap, [moved]: shard2 } }),
    );
    await assertRejects(
      () => Checkpoint.open(dir, p),
      index,
      `'${moved}'`,
      shard2,
      "no such tensor",
    );

    await Deno.writeTextFile(index, "{ not json");
    await assertRejects(() => Checkpoint.open(dir, p), index, "not valid JSON");
    await Deno.writeTextFile(index, '{"metadata": {}}');
    await assertRejects(() => Checkpoint.open(dir, p), index, "weight_map");

    await Deno.mkdir(`${dir}/empty`);
    await assertRejects(
      () => Checkpoint.open(`${dir}/empty`, p),
      `${dir}/empty`,
      "no weights found",
    );
    await assertRejects(() => Checkpoint.open(`${dir}/absent`, p), `${dir}/absent`, "no such file");
  });
});

Deno.test("checkpoint errors: the same tensor in two unindexed files", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeFile(`${dir}/x.safetensors`, writeSafetensors(tensors()));
    await Deno.writeFile(`${dir}/y.safetensors`, writeSafetensors(tensors()));
    await assertRejects(
      () => Checkpoint.open(dir, { platform: mmapPlatform }),
      "x.safetensors",
      "y.safetensors",
      "in both",
    );
  });
});
