/**
 * The API documentation as JSR would render it: `deno doc --lint mod.ts` has
 * no finding (every export documented, no private type in a public
 * signature, explicit types), the JSDoc examples type-check, and
 * `deno doc --html` builds (into a temporary folder: generated docs are not
 * kept in git; `deno task doc` writes them to the ignored `out/api-docs/`).
 */
import { assert, assertEquals } from "../assert.ts";
import { withTempDir } from "../io/io_util.ts";
import { ROOT, runDeno } from "./loopback_jsr.ts";

Deno.test("docs: deno doc --lint mod.ts has no finding", async () => {
  const run = await runDeno(["doc", "--lint", "mod.ts"], { cwd: ROOT, timeoutMs: 120_000 });
  assertEquals(run.code, 0, run.stdout + run.stderr);
  assert(!/error\[/.test(run.stdout + run.stderr), run.stdout + run.stderr);
});

Deno.test("docs: the JSDoc examples type-check", async () => {
  const files: string[] = [];
  const walk = async (dir: URL, rel: string) => {
    for await (const e of Deno.readDir(dir)) {
      if (e.isDirectory) await walk(new URL(`${e.name}/`, dir), `${rel}${e.name}/`);
      else if (e.name.endsWith(".ts")) {
        const text = await Deno.readTextFile(new URL(e.name, dir));
        if (text.includes("@example")) files.push(`${rel}${e.name}`);
      }
    }
  };
  await walk(new URL("src/", ROOT), "src/");
  files.push("mod.ts");
  assert(files.length > 5, `only ${files.length} files with examples`);
  const run = await runDeno(["check", "--doc-only", ...files], { cwd: ROOT, timeoutMs: 300_000 });
  assertEquals(run.code, 0, run.stdout + run.stderr);
});

Deno.test("docs: deno doc --html builds the API pages", async () => {
  await withTempDir(async (out) => {
    const run = await runDeno(
      ["doc", "--html", "--name=@ideogram4/webgpu", `--output=${out}`, "mod.ts"],
      { cwd: ROOT, timeoutMs: 120_000 },
    );
    assertEquals(run.code, 0, run.stdout + run.stderr);
    // The module page (with its example), the symbol list, and a page per entry point.
    assert((await Deno.readTextFile(`${out}/index.html`)).includes("Ideogram4Pipeline.open"));
    const all = await Deno.readTextFile(`${out}/all_symbols.html`);
    for (const name of ["Ideogram4Pipeline", "createGpu", "ensureEmbeddedModel", "encodePng"]) {
      assert(all.includes(name), `all_symbols.html does not list ${name}`);
      const page = await Deno.readTextFile(`${out}/~/${name}.html`);
      assert(page.length > 1000, `${name}.html is empty`);
    }
  });
});
