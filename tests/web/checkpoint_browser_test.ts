/// <reference lib="dom" />
/**
 * A real-size checkpoint in headless Chromium: the released architecture in
 * nf4 with its data regions left as file holes (tests/pipeline/
 * sparse_checkpoint.ts), served by `web/serve.ts` with HTTP ranges, opened
 * from its URL, checked and planned by the page's worker with the adapter's
 * limits. The default budget (8 GiB) streams the unconditional DiT; a 2 GiB
 * one is refused, with the reason, before anything is downloaded. The server
 * counts the weight bytes it sent: the headers, never the holes.
 */
import { pathToFileURL } from "node:url";
import { ensureEmbeddedModel } from "../../src/platform/deno/embedded_model.ts";
import { buildWeb } from "../../tools/build_web.ts";
import { webHandler } from "../../web/serve.ts";
import { assert, assertEquals } from "../assert.ts";
import {
  apparentSize,
  withSparseDir,
  writeSparseCheckpoint,
} from "../pipeline/sparse_checkpoint.ts";
import { findChromium, launchChromium, smallScreenshot } from "./chromium.ts";

const CHROMIUM = await findChromium();

/** Weight bytes the page may read: safetensors headers and the small nf4 states. */
const MAX_SERVED_BYTES = 32 * 2 ** 20;

Deno.test({
  name: "web page in Chromium: a real-size sparse checkpoint by URL is checked and planned",
  ignore: !CHROMIUM,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withSparseDir(async (dir) => {
      const tiny = await ensureEmbeddedModel();
      await writeSparseCheckpoint(`${dir}/sparse`, { format: "nf4", tokenizerFrom: tiny });
      const apparent = await apparentSize(`${dir}/sparse`);
      await buildWeb();
      const handler = webHandler({
        modelsRoot: pathToFileURL(`${dir}/`),
        tinyModelRoot: pathToFileURL(`${tiny}/`),
      });
      let served = 0;
      const requests: string[] = [];
      const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
        const res = await handler(req);
        const path = new URL(req.url).pathname;
        if (req.method === "GET" && path.endsWith(".safetensors")) {
          served += Number(res.headers.get("Content-Length") ?? 0);
          requests.push(`${path} ${req.headers.get("Range") ?? "whole"}`);
        }
        return res;
      });
      const chrome = await launchChromium(CHROMIUM!);
      try {
        const page = await chrome.browser.newPage();
        await page.setViewport({ width: 1400, height: 1000 });
        const pageErrors: string[] = [];
        page.on("pageerror", (e) => pageErrors.push(String(e)));
        await page.goto(`http://127.0.0.1:${server.addr.port}/`);
        await page.waitForFunction(() => document.body.dataset.state !== "loading", {
          timeout: 120_000,
        });
        assertEquals(await page.evaluate(() => document.body.dataset.state), "ready");
        const plan = async (budgetGiB: string) => {
          await page.$eval("#prompt", (e) => (e as HTMLTextAreaElement).value = "a cat");
          await page.$eval("#model-url", (e) => {
            (e as HTMLInputElement).value = "/models/sparse/";
            e.dispatchEvent(new Event("input", { bubbles: true }));
          });
          await page.$eval("#budget", (e, v) => (e as HTMLInputElement).value = v, budgetGiB);
          await page.evaluate(() => delete document.body.dataset.plan);
          await page.click("#plan");
          await page.waitForFunction(
            () => ["fits", "refused", "failed"].includes(document.body.dataset.plan ?? ""),
            { timeout: 600_000, polling: 200 },
          );
          return {
            state: await page.evaluate(() => document.body.dataset.plan),
            text: await page.$eval("#plan-out", (e) => e.textContent ?? ""),
          };
        };

        const fits = await plan("");
        assertEquals(fits.state, "fits", fits.text);
        for (
          const want of [
            "budget 8.00 GiB (the default",
            "adapter limits: maxBufferSize ",
            "memory plan for 1024x1024",
            "transformer resident, unconditional_transformer streamed",
            "fits, streaming DiT blocks",
          ]
        ) assert(fits.text.includes(want), `plan lacks "${want}":\n${fits.text}`);

        const shots = Deno.env.get("IDEOGRAM4_SCREENSHOTS");
        if (shots) {
          await smallScreenshot(page, `${shots}/browser-plan.png`);
        }
        const refused = await plan("2");
        assertEquals(refused.state, "refused", refused.text);
        assert(refused.text.includes("budget 2.00 GiB (yours)"), refused.text);
        assert(
          /refused before downloading: 1024x1024 with \d+ prompt tokens needs about [\d.]+ GiB .* leaves 1\.80 GiB/
            .test(refused.text),
          refused.text,
        );

        console.log(
          `sparse nf4 checkpoint of ${(apparent / 2 ** 30).toFixed(2)} GiB: the page read ` +
            `${served} weight bytes in ${requests.length} range requests`,
        );
        assert(apparent > 10 * 2 ** 30, `the sparse checkpoint is only ${apparent} bytes`);
        assert(requests.length > 0, "the page read no weight file: the count cannot tell");
        assert(
          requests.every((r) => !r.endsWith(" whole")),
          `a weight file was read whole:\n${requests.join("\n")}`,
        );
        assert(served < MAX_SERVED_BYTES, `the page read ${served} weight bytes`);
        assertEquals(pageErrors, []);
      } finally {
        await chrome.close();
        await server.shutdown();
      }
    });
  },
});
