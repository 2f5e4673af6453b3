/// <reference lib="dom" />
/**
 * The web page in headless Chromium (WebGPU on SwiftShader) against
 * `web/serve.ts`: the caption verifier's inline messages and previews, one
 * click on "Generate with the embedded tiny model" (run by the page's worker)
 * compared with the CLI's PNG for the same prompt (±1 per channel), the PNG
 * download, a cancel mid-run with a second request queued behind it (the
 * worker's live GPU bytes back to the baseline), that the main thread never
 * asked for a device, wrote a buffer, dispatched or submitted, and the
 * message a browser without WebGPU gets. Skips, saying why, only when
 * `chromium` is not installed.
 */
import type { Page } from "puppeteer-core";
import { pathToFileURL } from "node:url";
import { ensureEmbeddedModel } from "../../src/platform/deno/embedded_model.ts";
import { decodePngRgb, readPngText } from "../../src/image/png.ts";
import { buildWeb } from "../../tools/build_web.ts";
import { serveWeb } from "../../web/serve.ts";
import { assert, assertEquals } from "../assert.ts";
import { PHOTO_CAPTION } from "../prompt/examples.ts";
import { PLAIN_TEXT_WARNING } from "../../src/prompt/check.ts";
import { findChromium, launchChromium, smallScreenshot } from "./chromium.ts";

const CHROMIUM = await findChromium();
if (!CHROMIUM) {
  console.log(
    "tests/web/browser_test.ts: skipped: Chromium is not installed (`which chromium` found " +
      "nothing; `apt-get install -y chromium`, as .ci/run does)",
  );
}

const PROMPT = "a lighthouse on a cliff at dusk, waves below";
/** The CLI's defaults for the embedded model, which the page's one-click button uses. */
const EMBEDDED = { width: 256, height: 256, preset: "V4_TURBO_12", steps: 12, seed: "0" };
/** Where to keep screenshots of the page during and after a run (docs/ uses them); default: the temp folder. */
const SHOTS = Deno.env.get("IDEOGRAM4_SCREENSHOTS");

/** Generation on SwiftShader takes minutes on a small CPU; this bounds a hang, not a run. */
const GENERATE_TIMEOUT_MS = 15 * 60_000;

const BAD_CAPTION = JSON.stringify({
  compositional_deconstruction: {
    background: "A plain grey wall.",
    elements: [{ type: "obj", bbox: [0, 0, 1200, 500], desc: "A red ball." }],
  },
});

/** Runs the real CLI (`cli.ts generate`) on the embedded model; returns its PNG. */
async function cliPng(dir: string): Promise<Uint8Array> {
  const output = `${dir}/cli.png`;
  const xdg = Deno.env.get("XDG_RUNTIME_DIR") ?? await Deno.makeTempDir();
  const res = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "cli.ts", "generate", "--prompt", PROMPT, "--output", output, "-q"],
    cwd: new URL("../../", import.meta.url),
    env: { XDG_RUNTIME_DIR: xdg, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!res.success) {
    throw new Error(`the CLI failed (exit ${res.code}):\n${new TextDecoder().decode(res.stderr)}`);
  }
  return await Deno.readFile(output);
}

const pageState = (page: Page) => page.evaluate(() => document.body.dataset.state ?? "");
const textOf = (page: Page, sel: string) =>
  page.$eval(sel, (e) => (e as HTMLElement).innerText ?? e.textContent ?? "");

/** Types `text` into the prompt box the way a user's edit arrives (an input event). */
async function setPrompt(page: Page, text: string): Promise<void> {
  await page.$eval("#prompt", (e, t) => {
    const area = e as HTMLTextAreaElement;
    area.value = t as string;
    area.dispatchEvent(new Event("input", { bubbles: true }));
  }, text);
}

/** The canvas's pixels as RGB (alpha dropped; the page paints opaque). */
async function canvasRgb(
  page: Page,
  sel: string,
): Promise<{ w: number; h: number; rgb: Uint8Array }> {
  const { w, h, b64 } = await page.$eval(sel, (e) => {
    const c = e as HTMLCanvasElement;
    const data = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
    let s = "";
    for (let i = 0; i < data.length; i += 0x8000) {
      s += String.fromCharCode(...data.subarray(i, i + 0x8000));
    }
    return { w: c.width, h: c.height, b64: btoa(s) };
  });
  const rgba = Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
  const rgb = new Uint8Array(w * h * 3);
  for (let i = 0, j = 0; j < rgba.length; i += 3, j += 4) rgb.set(rgba.subarray(j, j + 3), i);
  return { w, h, rgb };
}

/** Largest |a−b| and how many channels differ. */
function compare(a: Uint8Array, b: Uint8Array): { max: number; differing: number } {
  assertEquals(a.length, b.length, "pixel count");
  let max = 0, differing = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (d > 0) differing++;
    if (d > max) max = d;
  }
  return { max, differing };
}

/**
 * Runs in the page's main thread before its scripts: counts every call of the
 * WebGPU methods that reach the device. The worker has its own globals, so
 * only the main thread's calls are counted.
 */
function instrumentMainThreadGpu(): void {
  const g = globalThis as unknown as Record<string, unknown>;
  const calls: Record<string, number> = {};
  g.__mainThreadGpuCalls = calls;
  const watch: [string, string[]][] = [
    ["GPU", ["requestAdapter"]],
    ["GPUAdapter", ["requestDevice"]],
    ["GPUQueue", ["submit", "writeBuffer"]],
    ["GPUComputePassEncoder", ["dispatchWorkgroups", "dispatchWorkgroupsIndirect"]],
  ];
  for (const [cls, methods] of watch) {
    const proto = (g[cls] as { prototype: Record<string, unknown> } | undefined)?.prototype;
    for (const m of methods) {
      const orig = proto?.[m];
      if (typeof orig !== "function") continue;
      const key = `${cls}.${m}`;
      calls[key] = 0;
      proto![m] = function (this: unknown, ...args: unknown[]) {
        calls[key]++;
        return orig.apply(this, args);
      };
    }
  }
}

/** The numbers in the page log's "request N … GPU live bytes after: B" lines, by request. */
function liveAfter(log: string): Map<number, { outcome: string; live: number }> {
  const out = new Map<number, { outcome: string; live: number }>();
  for (
    const m of log.matchAll(
      /request (\d+) (done|cancelled|failed)[^\n]*GPU live bytes after: (\d+)/g,
    )
  ) {
    out.set(Number(m[1]), { outcome: m[2], live: Number(m[3]) });
  }
  return out;
}

Deno.test({
  name: "web page in Chromium: caption verifier inline, embedded model = CLI ±1, PNG, no-WebGPU",
  ignore: !CHROMIUM,
  // puppeteer keeps its socket and the browser process between steps.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const tmp = await Deno.makeTempDir({ prefix: "ideogram4-web-test-" });
    await buildWeb();
    const cliStarted = performance.now();
    const cli = decodePngRgb(await cliPng(tmp));
    const cliSeconds = (performance.now() - cliStarted) / 1000;
    const tiny = await ensureEmbeddedModel();
    const server = serveWeb({ port: 0, tinyModelRoot: pathToFileURL(`${tiny}/`) });
    const url = `http://127.0.0.1:${server.addr.port}/`;
    const chrome = await launchChromium(CHROMIUM!);
    try {
      const page = await chrome.browser.newPage();
      await page.setViewport({ width: 1400, height: 1100 });
      const pageErrors: string[] = [];
      page.on("pageerror", (e) => pageErrors.push(String(e)));
      await page.evaluateOnNewDocument(instrumentMainThreadGpu);
      await page.goto(url);
      await page.waitForFunction(() => document.body.dataset.state !== "loading", {
        timeout: 120_000,
      });
      assertEquals(
        await pageState(page),
        "ready",
        `the page did not get WebGPU on SwiftShader: ${await textOf(page, "#no-webgpu")}`,
      );

      await t.step(
        "the verifier's messages show inline; an invalid caption is refused",
        async () => {
          await setPrompt(page, BAD_CAPTION);
          const issues = await page.$$eval(
            "#caption-issues li",
            (ls) => ls.map((l) => l.textContent),
          );
          assertEquals(issues, [
            "compositional_deconstruction.elements[0].bbox[2]: 1200 is outside 0..1000",
          ]);
          // Plain text: the same warning as the CLI and the library.
          await setPrompt(page, "a red fox in the snow");
          const plain = await page.$$eval(
            "#caption-issues li",
            (ls) => ls.map((l) => l.textContent),
          );
          assertEquals(plain, [`⚠ ${PLAIN_TEXT_WARNING}`]);
          await setPrompt(page, '{"compositional_deconstruction": }');
          const syntax = await textOf(page, "#caption-issues");
          assert(/line 1, column \d+/.test(syntax), `syntax error without its place: ${syntax}`);
          // Generating with the bad caption stops before any weight is read.
          await setPrompt(page, BAD_CAPTION);
          await page.click("#generate");
          await page.waitForFunction(() => document.body.dataset.state === "error", {
            timeout: 60_000,
          });
          const said = await textOf(page, "#form-error");
          assert(said.includes("caption has 1 problem"), `form error: ${said}`);
        },
      );

      await t.step("a valid caption previews its palettes and draws its boxes", async () => {
        await setPrompt(page, JSON.stringify(PHOTO_CAPTION));
        assertEquals(await textOf(page, "#caption-issues"), "✓ valid JSON caption");
        const swatches = await page.$$eval(".palette .swatch", (s) => s.map((x) => x.textContent));
        assertEquals(swatches, [
          ...PHOTO_CAPTION.style_description.color_palette,
          ...PHOTO_CAPTION.compositional_deconstruction.elements[1].color_palette!,
        ]);
        const overlay = await page.$eval("#overlay", (e) => {
          const c = e as HTMLCanvasElement;
          const d = c.getContext("2d")!.getImageData(0, 0, c.width, c.height).data;
          let painted = 0;
          for (let i = 3; i < d.length; i += 4) if (d[i] > 0) painted++;
          // The first box's top-left corner: bbox [520, 80, …] of 1000 → (x 8%, y 52%).
          const x = Math.round(c.width * 0.08), y = Math.round(c.height * 0.52);
          const corner = c.getContext("2d")!.getImageData(x - 2, y - 2, 5, 5).data;
          return { painted, corner: corner.some((v, i) => i % 4 === 3 && v > 0) };
        });
        assert(
          overlay.painted > 0 && overlay.corner,
          `boxes not drawn: ${JSON.stringify(overlay)}`,
        );
      });

      await t.step("one click on the embedded model gives the CLI's image (±1)", async () => {
        await setPrompt(page, PROMPT);
        const started = performance.now();
        await page.click("#embedded-run");
        await page.waitForFunction(
          () => document.body.dataset.state === "done" || document.body.dataset.state === "error",
          { timeout: GENERATE_TIMEOUT_MS, polling: 500 },
        );
        const seconds = (performance.now() - started) / 1000;
        const log = await textOf(page, "#log");
        assertEquals(await pageState(page), "done", `generation failed:\n${log}`);
        const form = await page.evaluate(() => ({
          width: (document.getElementById("width") as HTMLInputElement).value,
          height: (document.getElementById("height") as HTMLInputElement).value,
          preset: (document.getElementById("preset") as HTMLSelectElement).value,
          seed: (document.getElementById("seed") as HTMLInputElement).value,
          progress: [
            (document.getElementById("progress") as HTMLProgressElement).value,
            (document.getElementById("progress") as HTMLProgressElement).max,
          ],
        }));
        assertEquals(form, {
          width: String(EMBEDDED.width),
          height: String(EMBEDDED.height),
          preset: EMBEDDED.preset,
          seed: EMBEDDED.seed,
          progress: [EMBEDDED.steps, EMBEDDED.steps],
        });
        assertEquals(
          log.match(/step \d+\/12 /g)?.length,
          EMBEDDED.steps,
          `per-step progress:\n${log}`,
        );

        const shown = await canvasRgb(page, "#image");
        assertEquals([shown.w, shown.h], [cli.width, cli.height], "image size");
        const d = compare(shown.rgb, cli.rgb);
        console.log(
          `browser (SwiftShader) vs CLI: max |Δ| ${d.max}, ${d.differing} of ${cli.rgb.length} ` +
            `channels differ; page ${seconds.toFixed(1)} s, CLI ${cliSeconds.toFixed(1)} s`,
        );
        assert(d.max <= 1, `the page's image differs from the CLI's by up to ${d.max}`);
        // Not a blank or uniform image: the test could not fail otherwise.
        assert(new Set(cli.rgb).size > 32, "the CLI image is (nearly) uniform");

        const png = await page.$eval("#download", async (a) => {
          const bytes = new Uint8Array(
            await (await fetch((a as HTMLAnchorElement).href)).arrayBuffer(),
          );
          let s = "";
          for (let i = 0; i < bytes.length; i += 0x8000) {
            s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
          }
          return btoa(s);
        });
        const pngBytes = Uint8Array.from(atob(png), (ch) => ch.charCodeAt(0));
        const downloaded = decodePngRgb(pngBytes);
        assertEquals(compare(downloaded.rgb, shown.rgb).max, 0, "the PNG differs from the canvas");
        const text = readPngText(pngBytes);
        assertEquals([text.Caption, text.Seed, text.Preset, text.Size], [
          PROMPT,
          EMBEDDED.seed,
          EMBEDDED.preset,
          `${EMBEDDED.width}x${EMBEDDED.height}`,
        ]);
        const shot = `${SHOTS ?? tmp}/browser-after-run.png`;
        await smallScreenshot(page, shot);
        console.log(`screenshot: ${shot}`);
      });

      await t.step(
        "cancel mid-run frees its GPU memory; the queued request runs next",
        async () => {
          // Weights stay loaded between requests: after the first run, live bytes are the weights.
          const baseline = Number(await page.evaluate(() => document.body.dataset.gpuLive));
          assert(baseline > 0, `no live bytes reported after the first run: ${baseline}`);
          const setSteps = (n: number) =>
            page.$eval("#steps", (e, v) => (e as HTMLInputElement).value = String(v), n);
          await setSteps(6);
          await page.click("#generate");
          await setSteps(1);
          await page.click("#generate");
          assertEquals(await textOf(page, "#queue"), "1 waiting");
          // Mid-run: the first step is done, its tensors are live.
          await page.waitForFunction(
            () => /step 1\/6 /.test(document.getElementById("log")!.textContent ?? ""),
            { timeout: GENERATE_TIMEOUT_MS, polling: 200 },
          );
          const during = Number(await page.evaluate(() => document.body.dataset.gpuLive));
          await smallScreenshot(page, `${SHOTS ?? tmp}/browser-during-run.png`);
          await page.click("#cancel");
          await page.waitForFunction(
            () => document.body.dataset.state === "done" || document.body.dataset.state === "error",
            { timeout: GENERATE_TIMEOUT_MS, polling: 500 },
          );
          const log = await textOf(page, "#log");
          assertEquals(await pageState(page), "done", `the queued request failed:\n${log}`);
          const ends = liveAfter(log);
          const ids = [...ends.keys()].sort((a, b) => a - b);
          assertEquals(ids.length, 2, `two requests ended:\n${log}`);
          const [cancelled, queued] = ids.map((i) => ends.get(i)!);
          assertEquals([cancelled.outcome, queued.outcome], ["cancelled", "done"], log);
          assert(!/step 6\/6 /.test(log), `the cancelled request ran to its end:\n${log}`);
          assert(during > baseline, `mid-run live bytes ${during} not above baseline ${baseline}`);
          assertEquals(cancelled.live, baseline, "live GPU bytes after the cancel");
          assertEquals(queued.live, baseline, "live GPU bytes after the queued request");
          assertEquals(await textOf(page, "#queue"), "");
          console.log(
            `cancel: live ${during} B mid-run → ${cancelled.live} B after (baseline ${baseline} B)`,
          );
        },
      );

      await t.step("the main thread never asked for a device or dispatched", async () => {
        const calls = await page.evaluate(() =>
          (globalThis as unknown as { __mainThreadGpuCalls: Record<string, number> })
            .__mainThreadGpuCalls
        );
        // The counters exist: the page's main thread has these WebGPU classes to watch.
        assert(
          ["GPUQueue.submit", "GPUComputePassEncoder.dispatchWorkgroups", "GPU.requestAdapter"]
            .every((k) => k in calls),
          `instrumentation not installed: ${JSON.stringify(calls)}`,
        );
        assertEquals(Object.values(calls).filter((n) => n > 0).length, 0, JSON.stringify(calls));
      });

      await t.step("without WebGPU the page says so instead of staying blank", async () => {
        const bare = await chrome.browser.newPage();
        await bare.evaluateOnNewDocument(() => {
          Object.defineProperty(Navigator.prototype, "gpu", { get: () => undefined });
        });
        await bare.goto(url);
        await bare.waitForFunction(() => document.body.dataset.state !== "loading", {
          timeout: 60_000,
        });
        assertEquals(await pageState(bare), "no-webgpu");
        const banner = await textOf(bare, "#no-webgpu");
        assert(banner.includes("WebGPU is not available"), `banner: ${banner}`);
        assertEquals(
          await bare.$eval("#embedded-run", (b) => (b as HTMLButtonElement).disabled),
          true,
        );
        await bare.close();
      });
      assertEquals(pageErrors, [], "uncaught errors in the page");
    } finally {
      await chrome.close();
      await server.shutdown();
    }
  },
});
