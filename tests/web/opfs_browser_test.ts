/// <reference lib="dom" />
/**
 * Download once, in headless Chromium: a checkpoint (a copy of the embedded
 * tiny model) read from a URL with "keep" on is downloaded into OPFS during
 * the first run and listed in the page with its size; a download cut short
 * before (a `.part` file holding the text encoder's first 4 MiB) resumes from
 * where it stopped and the kept file equals the server's (sha256); after a
 * reload the second run reads everything from OPFS, the server sends zero
 * bytes, and the image is the same; Delete empties the list. The server
 * counts the bytes it sent, per file.
 */
import { pathToFileURL } from "node:url";
import { ensureEmbeddedModel } from "../../src/platform/deno/embedded_model.ts";
import { buildWeb } from "../../tools/build_web.ts";
import { webHandler } from "../../web/serve.ts";
import { assert, assertEquals } from "../assert.ts";
import { apparentSize } from "../pipeline/sparse_checkpoint.ts";
import { findChromium, launchChromium } from "./chromium.ts";
import type { Page } from "puppeteer-core";

const CHROMIUM = await findChromium();
/** The text encoder's weights, of which a cut-short download left the first {@link PARTIAL} bytes. */
const TE = "text_encoder/model.safetensors";
const PARTIAL = 4 * 2 ** 20;

/** Hex sha256 of a file in the page's OPFS cache (read in the page). */
function keptSha256(page: Page, path: string): Promise<string> {
  return page.evaluate(async (path) => {
    let dir = await (await navigator.storage.getDirectory()).getDirectoryHandle(
      "ideogram4-weights",
    );
    dir = await dir.getDirectoryHandle(
      encodeURIComponent(new URL("/models/tiny-copy/", location.href).href),
    );
    const segs = path.split("/");
    for (const s of segs.slice(0, -1)) dir = await dir.getDirectoryHandle(s);
    const file = await (await dir.getFileHandle(segs[segs.length - 1])).getFile();
    const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", await file.arrayBuffer()));
    return Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join("");
  }, path);
}

async function copyTree(from: string, to: string): Promise<number> {
  await Deno.mkdir(to, { recursive: true });
  let files = 0;
  for await (const e of Deno.readDir(from)) {
    if (e.isDirectory) files += await copyTree(`${from}/${e.name}`, `${to}/${e.name}`);
    else if (e.isFile) {
      await Deno.copyFile(`${from}/${e.name}`, `${to}/${e.name}`);
      files++;
    }
  }
  return files;
}

/** Fills the form for a one-step 256² run from the URL, keep on, and waits for the outcome. */
async function runOnce(page: Page): Promise<{ state: string; log: string; rgb: string }> {
  await page.evaluate(() => {
    const set = (id: string, v: string) =>
      (document.getElementById(id) as HTMLInputElement).value = v;
    set("prompt", "a red fox in fresh snow");
    set("width", "256");
    set("height", "256");
    set("steps", "1");
    set("seed", "3");
    (document.getElementById("keep") as HTMLInputElement).checked = true;
    const url = document.getElementById("model-url") as HTMLInputElement;
    url.value = "/models/tiny-copy/";
    url.dispatchEvent(new Event("input", { bubbles: true }));
  });
  await page.click("#generate");
  await page.waitForFunction(
    () => ["done", "error"].includes(document.body.dataset.state ?? ""),
    { timeout: 15 * 60_000, polling: 500 },
  );
  return await page.evaluate(() => {
    const c = document.getElementById("image") as HTMLCanvasElement;
    const d = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
    let h = 0;
    for (let i = 0; i < d.length; i++) h = (h * 31 + d[i]) >>> 0;
    return {
      state: document.body.dataset.state ?? "",
      log: document.getElementById("log")!.textContent ?? "",
      rgb: `${c.width}x${c.height}#${h}`,
    };
  });
}

Deno.test({
  name: "web page in Chromium: a URL checkpoint is kept in OPFS; the second run serves 0 bytes",
  ignore: !CHROMIUM,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "ideogram4-opfs-" });
    const tiny = await ensureEmbeddedModel();
    const files = await copyTree(tiny, `${dir}/tiny-copy`);
    const size = await apparentSize(`${dir}/tiny-copy`);
    await buildWeb();
    const handler = webHandler({ modelsRoot: pathToFileURL(`${dir}/`) });
    let served = 0;
    const servedByPath = new Map<string, number>();
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
      const res = await handler(req);
      if (req.method === "GET" && new URL(req.url).pathname.startsWith("/models/")) {
        const n = Number(res.headers.get("Content-Length") ?? 0);
        served += n;
        const path = new URL(req.url).pathname.replace("/models/tiny-copy/", "");
        servedByPath.set(path, (servedByPath.get(path) ?? 0) + n);
      }
      return res;
    });
    const chrome = await launchChromium(CHROMIUM!);
    try {
      const page = await chrome.browser.newPage();
      const pageErrors: string[] = [];
      page.on("pageerror", (e) => pageErrors.push(String(e)));
      const load = async () => {
        await page.goto(`http://127.0.0.1:${server.addr.port}/`);
        await page.waitForFunction(() => document.body.dataset.kept !== undefined, {
          timeout: 120_000,
        });
      };
      await load();
      assertEquals(await page.$eval("#kept", (e) => e.textContent), "nothing yet");
      // A download cut short: the first PARTIAL bytes of the text encoder in its .part file.
      await page.evaluate(
        async (te, n) => {
          const res = await fetch(`/models/tiny-copy/${te}`, {
            headers: { Range: `bytes=0-${n - 1}` },
          });
          const bytes = new Uint8Array(await res.arrayBuffer());
          let dir = await (await navigator.storage.getDirectory())
            .getDirectoryHandle("ideogram4-weights", { create: true });
          dir = await dir.getDirectoryHandle(
            encodeURIComponent(new URL("/models/tiny-copy/", location.href).href),
            { create: true },
          );
          const [folder, name] = te.split("/");
          dir = await dir.getDirectoryHandle(folder, { create: true });
          const w = await (await dir.getFileHandle(`${name}.part`, { create: true }))
            .createWritable();
          await w.write(bytes);
          await w.close();
        },
        TE,
        PARTIAL,
      );
      served = 0;
      servedByPath.clear();

      const first = await runOnce(page);
      assertEquals(first.state, "done", first.log);
      assert(first.log.includes("downloading "), `no download shown:\n${first.log}`);
      const firstServed = served;
      const kept = await page.$eval("#kept li", (e) => e.textContent ?? "");
      console.log(`first run: served ${firstServed} bytes; kept: ${kept}`);
      // Every file the pipeline reads is downloaded (the tiny checkpoint's only unread file is
      // a small README; the text encoder's first 4 MiB were kept); before that, the plan read
      // the headers and the tokenizer in ranges.
      assert(
        firstServed >= size - PARTIAL - 4096 && firstServed < size * 1.5,
        `${firstServed} bytes served of ${size}`,
      );
      assert(kept.includes("/models/tiny-copy/: "), kept);
      // The resumed file: only what the .part lacked (plus the plan's header read and the range
      // probes) came from the server, and the kept file is the server's, byte for byte.
      const teSize = (await Deno.stat(`${dir}/tiny-copy/${TE}`)).size;
      const teServed = servedByPath.get(TE) ?? 0;
      assert(
        teServed >= teSize - PARTIAL && teServed < teSize - PARTIAL + 2 ** 20,
        `${TE}: ${teServed} bytes served of ${teSize}, ${PARTIAL} already kept`,
      );
      const want = Array.from(
        new Uint8Array(
          await crypto.subtle.digest("SHA-256", await Deno.readFile(`${dir}/tiny-copy/${TE}`)),
        ),
        (b) => b.toString(16).padStart(2, "0"),
      ).join("");
      assertEquals(await keptSha256(page, TE), want, `${TE} kept in OPFS`);
      const keptFiles = Number(/: (\d+) files/.exec(kept)?.[1]);
      assert(keptFiles > 0 && keptFiles <= files, `${keptFiles} kept of ${files}`);

      served = 0;
      await load(); // a fresh page and worker: only OPFS remembers
      const second = await runOnce(page);
      assertEquals(second.state, "done", second.log);
      assertEquals(served, 0, "bytes served on the second run");
      assert(!second.log.includes("downloading "), second.log);
      assertEquals(second.rgb, first.rgb, "the second image differs");

      await page.click("#kept li button");
      await page.waitForFunction(
        () => document.getElementById("kept")!.textContent === "nothing yet",
        { timeout: 60_000 },
      );
      assertEquals(pageErrors, []);
    } finally {
      await chrome.close();
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
