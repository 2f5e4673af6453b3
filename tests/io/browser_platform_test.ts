import { Checkpoint } from "../../src/io/checkpoint.ts";
import { denseTensor } from "../../src/io/quantize.ts";
import { writeShardedSafetensors } from "../../src/io/safetensors_writer.ts";
import { browserPlatform, filesByRelativePath } from "../../src/platform/browser.ts";
import { assert, assertEquals, assertRejects } from "../assert.ts";
import { randn } from "../util.ts";
import { randomBytes } from "./io_util.ts";

const DATA = randomBytes(10_000, 77);

const same = (a: Uint8Array, b: Uint8Array) =>
  a.length === b.length && a.every((v, i) => v === b[i]);

Deno.test("browser platform: registered Blobs are read by slices, listed by folder", async () => {
  const p = browserPlatform({
    files: {
      "transformer/w.safetensors": new Blob([DATA]),
      "transformer/config.json": new Blob(['{"x": 2}']),
      "transformer/sub/deep.bin": new Blob([DATA.subarray(0, 5)]),
      "vae/empty.bin": new Blob([]),
    },
    env: { IDEOGRAM4_X: "1" },
  });
  const src = await p.open("./transformer//w.safetensors");
  assertEquals([src.kind, src.size], ["blob", DATA.length]);
  assert(same(await src.read(123, 4567), DATA.subarray(123, 4690)), "slice bytes");
  assert(same(await src.read(9_999, 1), DATA.subarray(9_999)), "last byte");
  assertEquals((await src.read(5, 0)).length, 0);
  await assertRejects(() => src.read(9_990, 11), "w.safetensors", "past the end");
  src.close();
  await assertRejects(() => src.read(0, 1), "after close");
  await assertRejects(() => p.open("vae/empty.bin"), "vae/empty.bin", "empty");
  await assertRejects(() => p.open("vae/none.bin"), "vae/none.bin", "not among");
  assertEquals(await p.readText("transformer/config.json"), '{"x": 2}');
  assertEquals(
    [await p.exists("transformer/config.json"), await p.exists("transformer"), await p.exists("x")],
    [true, false, false],
  );
  assertEquals(await p.list("transformer"), ["config.json", "w.safetensors"]);
  assertEquals(await p.list("."), []);
  await assertRejects(() => p.list("text_encoder"), "text_encoder", "no such folder");
  assertEquals(p.join("transformer", "../vae", "x.bin"), "vae/x.bin");
  assertEquals([p.env("IDEOGRAM4_X"), p.env("HOME")], ["1", undefined]);
});

Deno.test("browser platform: directory-picker files are keyed by path inside the picked folder", () => {
  const withPath = (name: string, rel: string) => {
    const f = new File([DATA.subarray(0, 3)], name);
    Object.defineProperty(f, "webkitRelativePath", { value: rel });
    return f;
  };
  const map = filesByRelativePath([
    withPath("a.safetensors", "ideogram-4-nf4/transformer/a.safetensors"),
    withPath("tokenizer.json", "ideogram-4-nf4/tokenizer/tokenizer.json"),
    new File([], "loose.txt"),
  ]);
  assertEquals([...map.keys()], [
    "transformer/a.safetensors",
    "tokenizer/tokenizer.json",
    "loose.txt",
  ]);
});

/** A file server on 127.0.0.1 for `files` under /model/: honours Range unless `ranges` is false. */
function serve(
  opts: { ranges: boolean; hideContentRange?: boolean },
  files: Record<string, Uint8Array> = { "w.bin": DATA, "t.json": new TextEncoder().encode("hi") },
) {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    const body = path.startsWith("/model/") ? files[path.slice(7)] : undefined;
    if (!body) return new Response("nope", { status: 404 });
    const len = { "Content-Length": String(body.length) };
    if (req.method === "HEAD") return new Response(null, { headers: len });
    const m = req.headers.get("Range")?.match(/^bytes=(\d+)-(\d+)$/);
    if (!opts.ranges || !m) return new Response(body.slice(), { headers: len });
    const [a, b] = [Number(m[1]), Math.min(Number(m[2]), body.length - 1)];
    const headers: Record<string, string> = opts.hideContentRange
      ? {}
      : { "Content-Range": `bytes ${a}-${b}/${body.length}` };
    return new Response(body.slice(a, b + 1), { status: 206, headers });
  });
  return { server, base: `http://127.0.0.1:${server.addr.port}/model/` };
}

Deno.test("browser platform: HTTP Range reads from a server that honours ranges", async () => {
  for (const hideContentRange of [false, true]) { // hidden: size comes from HEAD Content-Length
    const { server, base } = serve({ ranges: true, hideContentRange });
    try {
      const p = browserPlatform({ baseUrl: base.slice(0, -1) });
      const src = await p.open("w.bin");
      assertEquals([src.kind, src.size, src.name], ["http", DATA.length, base + "w.bin"]);
      assert(same(await src.read(1000, 3000), DATA.subarray(1000, 4000)), "range bytes");
      assert(same(await src.read(9_990, 10), DATA.subarray(9_990)), "tail bytes");
      await assertRejects(() => src.read(9_990, 11), "w.bin", "past the end");
      src.close();
      assertEquals(await p.readText("t.json"), "hi");
      assertEquals([await p.exists("w.bin"), await p.exists("missing.bin")], [true, false]);
      await assertRejects(() => p.open("missing.bin"), "missing.bin", "404");
      await assertRejects(() => p.readText("missing.json"), "missing.json", "404");
      await assertRejects(() => p.list("."), "cannot list");
    } finally {
      await server.shutdown();
    }
  }
});

Deno.test("browser platform: a server that ignores Range gives a clear error", async () => {
  const { server, base } = serve({ ranges: false });
  try {
    await assertRejects(
      () => browserPlatform({ baseUrl: base }).open("w.bin"),
      base + "w.bin",
      "ignored the HTTP Range header",
    );
  } finally {
    await server.shutdown();
  }
});

Deno.test("browser platform: a sharded checkpoint over HTTP (index by stem, shards by ranges)", async () => {
  const weights = {
    "blocks.0.attn.weight": denseTensor(randn(24 * 16, 1), [24, 16], "BF16"),
    "blocks.0.norm.weight": denseTensor(randn(16, 2), [16]),
    "blocks.1.attn.weight": denseTensor(randn(24 * 16, 3), [24, 16], "F16"),
  };
  const files = writeShardedSafetensors(weights, { stem: "diffusion_pytorch_model", shards: 2 });
  const { server, base } = serve(
    { ranges: true },
    Object.fromEntries([...files].map(([n, b]) => [`transformer/${n}`, b])),
  );
  try {
    const platform = browserPlatform();
    assertEquals(platform.join(base, "transformer", "x.json"), `${base}transformer/x.json`);
    const ckpt = await Checkpoint.open(platform.join(base, "transformer"), {
      stem: "diffusion_pytorch_model",
      platform,
    });
    assertEquals(ckpt.files.map((f) => f.source.kind), ["http", "http"]);
    for (const [name, t] of Object.entries(weights)) {
      assert(same(await ckpt.bytes(name), t.data), name);
    }
    assertEquals(Array.from(await ckpt.f32("blocks.0.norm.weight")), Array.from(randn(16, 2)));
    ckpt.close();
  } finally {
    await server.shutdown();
  }
});
