/**
 * The embedded model: built on first use into the cache, deterministic, in
 * the published layout, with Qwen3's real tokenizer, and reused afterwards.
 */
import { assert, assertEquals } from "../assert.ts";
import { withTempDir } from "../io/io_util.ts";
import { cacheRoot, ensureEmbeddedModel } from "../../src/cli/embedded_model.ts";
import { EMBEDDED_MODEL_VERSION } from "../../src/tiny/model.ts";
import { COMPONENT_FOLDERS } from "../../src/pipeline/pipeline.ts";

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
