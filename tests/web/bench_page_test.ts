/// <reference lib="dom" />
/**
 * The benchmark page in headless Chromium (WebGPU on SwiftShader): `bench.html?quick`
 * runs the same cases as `deno task bench --quick`, fills the table and the
 * chart, and exports JSON that passes the report schema check (the one
 * `deno task bench:compare` applies) with a row per table row.
 */
import { pathToFileURL } from "node:url";
import { ensureEmbeddedModel } from "../../src/platform/deno/embedded_model.ts";
import { parseBenchReport } from "../../src/bench/report.ts";
import { buildWeb } from "../../tools/build_web.ts";
import { serveWeb } from "../../web/serve.ts";
import { assert, assertEquals } from "../assert.ts";
import { findChromium, launchChromium } from "./chromium.ts";

const CHROMIUM = await findChromium();

Deno.test({
  name: "bench page in Chromium: quick run, table, chart, JSON export in the bench schema",
  ignore: !CHROMIUM,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await buildWeb();
    const tiny = await ensureEmbeddedModel();
    const server = serveWeb({ port: 0, tinyModelRoot: pathToFileURL(`${tiny}/`) });
    const chrome = await launchChromium(CHROMIUM!);
    try {
      const page = await chrome.browser.newPage();
      const pageErrors: string[] = [];
      page.on("pageerror", (e) => pageErrors.push(String(e)));
      await page.goto(`http://127.0.0.1:${server.addr.port}/bench.html?quick`);
      await page.waitForFunction(() => document.body.dataset.state !== "loading", {
        timeout: 120_000,
      });
      assertEquals(await page.evaluate(() => document.body.dataset.state), "ready");
      await page.click("#run");
      await page.waitForFunction(
        () => ["done", "error"].includes(document.body.dataset.state ?? ""),
        { timeout: 15 * 60_000, polling: 1000 },
      );
      const status = await page.$eval("#status", (e) => e.textContent ?? "");
      assertEquals(await page.evaluate(() => document.body.dataset.state), "done", status);
      const json = await page.$eval("#export", async (a) => {
        return await (await fetch((a as HTMLAnchorElement).href)).text();
      });
      const report = parseBenchReport(JSON.parse(json), "the page's export");
      assertEquals(report.quick, true);
      // Chromium describes SwiftShader by its vendor ("google […]"); the page shows the same.
      const shown = await page.$eval("#adapter", (e) => e.textContent ?? "");
      assertEquals(shown, `WebGPU adapter: ${report.adapter}`);
      const tableRows = await page.$$eval("#table tr", (rs) => rs.length - 1);
      assertEquals(tableRows, report.rows.length);
      const bars = await page.$$eval("#chart rect", (rs) => rs.length);
      assertEquals(bars, 2 * report.rows.length);
      for (const k of ["linear", "attention", "conv"]) {
        assert(report.rows.some((r) => r.kernel.includes(k)), `no ${k} case: ${json}`);
      }
      assert(report.rows.every((r) => r.ms > 0 && r.gflops > 0), json);
      console.log(`bench page (SwiftShader, quick): ${report.rows.length} cases, ${status}`);
      assertEquals(pageErrors, []);
    } finally {
      await chrome.close();
      await server.shutdown();
    }
  },
});
