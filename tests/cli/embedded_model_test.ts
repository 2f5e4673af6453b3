/**
 * The embedded model: built on first use into the cache, deterministic, in
 * the published layout, with Qwen3's real tokenizer, and reused afterwards.
 */
import { assert, assertEquals } from "../assert.ts";
import { withTempDir } from "../io/io_util.ts";
import {
  cacheRoot,
  embeddedModelProblem,
  ensureEmbeddedModel,
} from "../../src/platform/deno/embedded_model.ts";
import { EMBEDDED_MODEL_VERSION } from "../../src/tiny/model.ts";
import { COMPONENT_FOLDERS } from "../../src/io/model_folders.ts";

async function tree(dir: string, base = dir, out = new Map<string, Uint8Array>()) {
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) await tree(p, base, out);
    else out.set(p.slice(base.length + 1), await Deno.readFile(p));
  }
  return out;
}

Deno.test("embedded model: built once into the cache, same bytes every time", async () => {
  await withTempDir(async (tmp) => {
    const env = (cache: string) => (name: string) => name === "IDEOGRAM4_CACHE" ? cache : undefined;
    const a = await ensureEmbeddedModel(env(`${tmp}/a`));
    assertEquals(a, `${tmp}/a/embedded-${EMBEDDED_MODEL_VERSION}`);
    const b = await ensureEmbeddedModel(env(`${tmp}/b`));
    const [ta, tb] = [await tree(a), await tree(b)];
    for (const f of COMPONENT_FOLDERS) {
      assert([...ta.keys()].some((k) => k.startsWith(`${f}/`)), `${f}/ present`);
    }
    assertEquals([...ta.keys()].sort(), [...tb.keys()].sort());
    for (const [k, v] of ta) assertEquals(tb.get(k), v, k);
    // Qwen3's own tokenizer (151k entries), our chat template beside it.
    const tok = JSON.parse(new TextDecoder().decode(ta.get("tokenizer/tokenizer.json")));
    assert(Object.keys(tok.model.vocab).length > 150000);
    assert(ta.has("tokenizer/chat_template.jinja"));
    // Reused, not rebuilt; no temporary folder left.
    const mtime = (await Deno.stat(`${a}/vae/config.json`)).mtime;
    assertEquals(await ensureEmbeddedModel(env(`${tmp}/a`)), a);
    assertEquals((await Deno.stat(`${a}/vae/config.json`)).mtime, mtime);
    const names: string[] = [];
    for await (const e of Deno.readDir(`${tmp}/a`)) names.push(e.name);
    assertEquals(names, [`embedded-${EMBEDDED_MODEL_VERSION}`]);
  });
  assertEquals(
    cacheRoot((n) => ({ XDG_CACHE_HOME: "/x" } as Record<string, string>)[n]),
    "/x/ideogram4-webgpu",
  );
  assertEquals(cacheRoot((n) => n === "HOME" ? "/h" : undefined), "/h/.cache/ideogram4-webgpu");
});

Deno.test("embedded model: an empty, truncated or bit-flipped cache is rebuilt; leftovers removed", async () => {
  await withTempDir(async (tmp) => {
    const env = (name: string) => name === "IDEOGRAM4_CACHE" ? tmp : undefined;
    const dir = `${tmp}/embedded-${EMBEDDED_MODEL_VERSION}`;
    const good = await tree(await ensureEmbeddedModel(env));
    assertEquals(await embeddedModelProblem(dir), undefined);
    const vae = `${dir}/vae/diffusion_pytorch_model.safetensors`;
    const damages: [string, () => Promise<void>, string][] = [
      ["empty folder", async () => {
        await Deno.remove(dir, { recursive: true });
        await Deno.mkdir(dir);
      }, "no manifest"],
      ["truncated", () => Deno.truncate(vae, 1000), "is 1000 bytes"],
      ["flipped bit", async () => {
        const b = await Deno.readFile(vae);
        b[b.length - 5] ^= 0x40;
        await Deno.writeFile(vae, b);
      }, "SHA-256"],
    ];
    for (const [what, damage, problem] of damages) {
      await damage();
      const said = await embeddedModelProblem(dir);
      assert(said?.includes(problem), `${what}: ${said}`);
      const lines: string[] = [];
      assertEquals(await ensureEmbeddedModel(env, (l) => lines.push(l)), dir);
      assert(lines.some((l) => l.includes("rebuilding")), `${what}: ${lines}`);
      const rebuilt = await tree(dir);
      assertEquals([...rebuilt.keys()].sort(), [...good.keys()].sort(), what);
      for (const [k, v] of good) assertEquals(rebuilt.get(k), v, `${what}: ${k}`);
    }
    // An interrupted build's folder: removed once old, kept while it may still be running.
    await Deno.mkdir(`${tmp}/.embedded-old`);
    await Deno.writeTextFile(`${tmp}/.embedded-old/x`, "partial");
    const hourAgo = new Date(Date.now() - 3600_000);
    await Deno.utime(`${tmp}/.embedded-old`, hourAgo, hourAgo);
    await Deno.mkdir(`${tmp}/.embedded-running`);
    await ensureEmbeddedModel(env);
    const names: string[] = [];
    for await (const e of Deno.readDir(tmp)) names.push(e.name);
    assertEquals(names.sort(), [".embedded-running", `embedded-${EMBEDDED_MODEL_VERSION}`]);
  });
});

Deno.test("embedded model: concurrent first builds all succeed with one sound copy", async () => {
  await withTempDir(async (tmp) => {
    const env = (name: string) => name === "IDEOGRAM4_CACHE" ? tmp : undefined;
    const dirs = await Promise.all([1, 2, 3, 4].map(() => ensureEmbeddedModel(env)));
    assertEquals(new Set(dirs).size, 1);
    assertEquals(await embeddedModelProblem(dirs[0]), undefined);
    const names: string[] = [];
    for await (const e of Deno.readDir(tmp)) names.push(e.name);
    assertEquals(names, [`embedded-${EMBEDDED_MODEL_VERSION}`]);
  });
});
