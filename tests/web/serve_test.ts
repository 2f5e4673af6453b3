/**
 * The page's server: HTTP Range answers (206 / 416 / 200), HEAD, paths that
 * escape the served folders, and the browser platform reading the embedded
 * model through it over real HTTP.
 */
import { pathToFileURL } from "node:url";
import { ensureEmbeddedModel } from "../../src/platform/deno/embedded_model.ts";
import { browserPlatform } from "../../src/platform/browser.ts";
import { parseRange } from "../../web/http_range.ts";
import { serveWeb, webHandler } from "../../web/serve.ts";
import { assert, assertEquals } from "../assert.ts";

Deno.test("http range: single ranges, suffixes, open ends; unusable ones ignored", () => {
  assertEquals(parseRange(null, 100), undefined);
  assertEquals(parseRange("bytes=0-0", 100), { start: 0, end: 0 });
  assertEquals(parseRange("bytes=10-19", 100), { start: 10, end: 19 });
  assertEquals(parseRange("bytes=90-200", 100), { start: 90, end: 99 }, "end clamped");
  assertEquals(parseRange("bytes=95-", 100), { start: 95, end: 99 });
  assertEquals(parseRange("bytes=-10", 100), { start: 90, end: 99 });
  assertEquals(parseRange("bytes=-500", 100), { start: 0, end: 99 });
  assertEquals(parseRange("bytes=100-", 100), "unsatisfiable");
  assertEquals(parseRange("bytes=-0", 100), "unsatisfiable");
  assertEquals(parseRange("bytes=0-0", 0), "unsatisfiable");
  for (const h of ["bytes=5-2", "bytes=0-1,4-5", "items=0-1", "bytes=-", "bytes=a-b", ""]) {
    assertEquals(parseRange(h, 100), undefined, h);
  }
});

/** A web root and a models root in a temporary folder, with known bytes. */
async function fixture() {
  const dir = await Deno.makeTempDir({ prefix: "ideogram4-serve-test-" });
  await Deno.mkdir(`${dir}/web/dist`, { recursive: true });
  await Deno.mkdir(`${dir}/models/m`, { recursive: true });
  await Deno.writeTextFile(`${dir}/web/index.html`, "<p>page</p>");
  await Deno.writeTextFile(`${dir}/web/dist/app.js`, "export {};");
  await Deno.writeTextFile(`${dir}/secret.txt`, "outside");
  // Over two stream chunks (1 MiB), with bytes that differ by position.
  const big = new Uint8Array((5 << 20) / 2 + 12345);
  for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
  await Deno.writeFile(`${dir}/models/m/w.safetensors`, big);
  const handler = webHandler({
    webRoot: new URL(`file://${dir}/web/`),
    modelsRoot: new URL(`file://${dir}/models/`),
  });
  const get = (path: string, init: RequestInit = {}) =>
    handler(new Request(`http://127.0.0.1${path}`, init));
  return { dir, big, get };
}

const bytesOf = async (r: Response) => new Uint8Array(await r.arrayBuffer());
const same = (a: Uint8Array, b: Uint8Array) =>
  a.length === b.length && a.every((v, i) => v === b[i]);

Deno.test("web server: pages, ranges of model files, 416, HEAD, 404, no escapes", async () => {
  const { dir, big, get } = await fixture();
  try {
    const index = await get("/");
    assertEquals([index.status, index.headers.get("Content-Type")], [
      200,
      "text/html; charset=utf-8",
    ]);
    assertEquals(await index.text(), "<p>page</p>");
    const js = await get("/dist/app.js");
    assertEquals(js.headers.get("Content-Type"), "text/javascript; charset=utf-8");
    await js.body?.cancel();

    const whole = await get("/models/m/w.safetensors");
    assertEquals([whole.status, whole.headers.get("Accept-Ranges")], [200, "bytes"]);
    assert(same(await bytesOf(whole), big), "whole file");

    const start = (1 << 20) - 7, end = (2 << 20) + 100; // crosses two chunk edges
    const part = await get("/models/m/w.safetensors", {
      headers: { Range: `bytes=${start}-${end}` },
    });
    assertEquals(part.status, 206);
    assertEquals(part.headers.get("Content-Range"), `bytes ${start}-${end}/${big.length}`);
    assertEquals(part.headers.get("Content-Length"), String(end - start + 1));
    assert(same(await bytesOf(part), big.subarray(start, end + 1)), "range bytes");

    const tail = await get("/models/m/w.safetensors", { headers: { Range: "bytes=-3" } });
    assert(same(await bytesOf(tail), big.subarray(big.length - 3)), "suffix range");

    const past = await get("/models/m/w.safetensors", {
      headers: { Range: `bytes=${big.length}-` },
    });
    assertEquals([past.status, past.headers.get("Content-Range")], [416, `bytes */${big.length}`]);

    const head = await get("/models/m/w.safetensors", { method: "HEAD" });
    assertEquals([head.status, head.headers.get("Content-Length")], [200, String(big.length)]);
    assertEquals((await bytesOf(head)).length, 0);

    const cors = await get("/models/m/w.safetensors", { method: "OPTIONS" });
    assertEquals(cors.status, 204);
    assert(
      cors.headers.get("Access-Control-Allow-Headers")?.includes("Range"),
      "preflight allows Range",
    );
    assert(
      part.headers.get("Access-Control-Expose-Headers")?.includes("Content-Range"),
      "Content-Range readable cross-origin",
    );

    const missing = await get("/models/m/none.bin");
    assertEquals(missing.status, 404);
    await missing.body?.cancel();
    const folder = await get("/models/m");
    assertEquals(folder.status, 404);
    await folder.body?.cancel();
    // The URL parser already folds `..` (even escaped); what is left must not escape either.
    for (const escape of ["/%2e%2e/secret.txt", "/models/%2E%2E/%2e%2e/secret.txt"]) {
      const r = await get(escape);
      assertEquals(r.status, 404, escape);
      await r.body?.cancel();
    }
    for (const bad of ["/..%2Fsecret.txt", "/models/m%5C..%5C..%5Csecret.txt", "/%E0%A4%A"]) {
      const r = await get(bad);
      assertEquals(r.status, 400, bad);
      await r.body?.cancel();
    }
    const post = await get("/", { method: "POST", body: "x" });
    assertEquals(post.status, 405);
    await post.body?.cancel();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("web server: the browser platform reads the embedded model over HTTP ranges", async () => {
  const tiny = await ensureEmbeddedModel();
  const server = serveWeb({ port: 0, tinyModelRoot: pathToFileURL(`${tiny}/`) });
  try {
    const base = `http://127.0.0.1:${server.addr.port}/models/tiny/`;
    const p = browserPlatform({ baseUrl: base });
    const path = "vae/diffusion_pytorch_model.safetensors";
    const onDisk = await Deno.readFile(`${tiny}/${path}`);
    const src = await p.open(path);
    assertEquals([src.kind, src.size], ["http", onDisk.length]);
    assert(same(await src.read(0, 8), onDisk.subarray(0, 8)), "header length bytes");
    const mid = Math.floor(onDisk.length / 3);
    assert(same(await src.read(mid, 4096), onDisk.subarray(mid, mid + 4096)), "middle range");
    src.close();
    assert(await p.exists("tokenizer/tokenizer.json"), "tokenizer is there");
    assertEquals(await p.exists("tokenizer/no_such_file.json"), false);
    assertEquals(JSON.parse(await p.readText("vae/config.json")).constructor, Object);
  } finally {
    await server.shutdown();
  }
});
