/**
 * The browser build: `deno bundle` of `web/ideogram4.ts` and `web/app.ts`
 * gives self-contained ES modules with no Deno reference, the library bundle
 * exports what `mod.ts` exports, and the scanner that guards the build
 * catches what would break in a browser.
 */
import { browserHazards, buildWeb } from "../../tools/build_web.ts";
import { assert, assertEquals } from "../assert.ts";

/** `mod.ts` exports that only make sense under Deno (none today). */
const DENO_ONLY: ReadonlySet<string> = new Set([]);

/** Exported names (values and types) and `export *` targets of an entry file. */
async function exportsOf(path: string): Promise<{ names: Set<string>; stars: Set<string> }> {
  const url = new URL(path, import.meta.url);
  const src = await Deno.readTextFile(url);
  const names = new Set<string>();
  for (const m of src.matchAll(/export\s+(?:type\s+)?\{([^}]*)\}\s*from/g)) {
    for (const part of m[1].split(",")) {
      const name = part.trim().replace(/^type\s+/, "").split(/\s+as\s+/).pop()!.trim();
      if (name) names.add(name);
    }
  }
  // Targets relative to the repository root, so both entries compare equal.
  const root = new URL("../../", import.meta.url).href;
  const stars = new Set(
    [...src.matchAll(/export\s+\*\s+from\s+"([^"]+)"/g)].map((m) =>
      new URL(m[1], url).href.slice(root.length)
    ),
  );
  return { names, stars };
}

Deno.test("web entry: exports everything mod.ts exports (but the Deno platform)", async () => {
  const mod = await exportsOf("../../mod.ts");
  const web = await exportsOf("../../web/ideogram4.ts");
  assert(mod.names.size > 50 && mod.names.has("Ideogram4Pipeline"), "parsed mod.ts's exports");
  const missing = [...mod.names].filter((n) => !web.names.has(n) && !DENO_ONLY.has(n));
  const extra = [...web.names].filter((n) => !mod.names.has(n));
  assertEquals(
    { missing, extra },
    { missing: [], extra: [] },
    "web/ideogram4.ts and mod.ts export different names; copy mod.ts's new exports " +
      "(or list Deno-only ones in DENO_ONLY)",
  );
  assertEquals([...web.stars].sort(), [...mod.stars].sort(), "export * lines");
  // And at run time (catches a name exported from the wrong module).
  const modValues = Object.keys(await import("../../mod.ts")).filter((k) => !DENO_ONLY.has(k));
  const webValues = Object.keys(await import("../../web/ideogram4.ts"));
  assertEquals(webValues.sort(), modValues.sort());
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
    assertEquals(built.map((b) => b.entry), ["web/ideogram4.ts", "web/app.ts"]);
    for (const b of built) {
      const js = await Deno.readTextFile(b.path);
      assertEquals(browserHazards(js), [], b.path);
      assert(!/\bDeno\s*\./.test(js), `${b.path} mentions Deno.`);
      assert(js.includes("@compute"), `${b.path} has no WGSL kernels inlined`);
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
