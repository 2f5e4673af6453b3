/**
 * The browser build: `deno bundle` of `web/ideogram4.ts`, `web/app.ts`,
 * `web/worker.ts` and `web/bench.ts` gives self-contained ES modules with no
 * Deno reference (and no kernel in the page's own script, which leaves GPU
 * work to its worker), the library bundle exports what `mod.ts` exports,
 * and the scanner that guards the build catches what would break in a
 * browser.
 */
import { browserHazards, buildWeb } from "../../tools/build_web.ts";
import { assert, assertEquals } from "../assert.ts";

/** `mod.ts` exports that only make sense under Deno. */
const DENO_ONLY: ReadonlySet<string> = new Set([
  "DEFAULT_NETWORK",
  "DEFAULT_REPOS",
  "HubError",
  "HubNetworkError",
  "resolveModel",
  "ensureEmbeddedModel",
]);

Deno.test("web entry: exports everything mod.ts exports but the Deno-only names", async () => {
  const modValues = Object.keys(await import("../../mod.ts"));
  const webValues = Object.keys(await import("../../web/ideogram4.ts"));
  assert(modValues.length > 50 && modValues.includes("Ideogram4Pipeline"), "mod.ts exports");
  for (const name of DENO_ONLY) assert(modValues.includes(name), `mod.ts exports ${name}`);
  assertEquals(webValues.sort(), modValues.filter((k) => !DENO_ONLY.has(k)).sort());
});

Deno.test("web build: the scanner flags Deno, node: and unbundled imports, not words", () => {
  const flagged = browserHazards([
    "const a = 1;",
    "  await Deno.readFile(path);",
    'import { join } from "node:path";',
    'const fs = await import("node:fs");',
    "const e = globalThis.Deno?.env;",
    'const x = Deno["env"];',
    'const y = require("fflate");',
    'import UPNG from "upng-js";',
    'import { a } from "./local.js";',
    'throw new Error("import mod.ts (Deno) or call setPlatform() first");',
    'if ("Deno" in globalThis) {}',
  ].join("\n"));
  assertEquals(flagged.map((f) => f.split(":")[0]), [
    "line 2",
    "line 3",
    "line 4",
    "line 5",
    "line 6",
    "line 7",
    "line 8",
  ]);
  assert(flagged[0].includes("a Deno API") && flagged[1].includes("node: import"), flagged.join());
});

Deno.test("web build: deno bundle gives browser-clean, self-contained ES modules", async () => {
  const outDir = new URL(`file://${await Deno.makeTempDir({ prefix: "ideogram4-web-build-" })}/`);
  try {
    // buildWeb itself refuses a bundle with hazards; scan again to be explicit.
    const built = await buildWeb({ outDir });
    assertEquals(built.map((b) => b.entry), [
      "web/ideogram4.ts",
      "web/app.ts",
      "web/worker.ts",
      "web/bench.ts",
    ]);
    for (const b of built) {
      const js = await Deno.readTextFile(b.path);
      assertEquals(browserHazards(js), [], b.path);
      assert(!/\bDeno\s*\./.test(js), `${b.path} mentions Deno.`);
      // The page's own script leaves every kernel to its worker.
      const page = b.entry === "web/app.ts";
      assertEquals(js.includes("@compute"), !page, `${b.path}: WGSL kernels inlined`);
      assert(b.bytes > 100_000, `${b.path} is suspiciously small (${b.bytes} bytes)`);
    }
    // The library bundle is an ES module with the library's API, loadable as is.
    const lib = await import(new URL("ideogram4.js", outDir).href);
    const entry = await import("../../web/ideogram4.ts");
    assertEquals(Object.keys(lib).sort(), Object.keys(entry).sort());
    assertEquals(typeof lib.Ideogram4Pipeline.open, "function");
    assertEquals(lib.verifyCaption('{"x": 1}')[0].rule, "unknown-key");
  } finally {
    await Deno.remove(outDir, { recursive: true });
  }
});
