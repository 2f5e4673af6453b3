/**
 * The library as its users get it: `deno publish --dry-run` passes with no
 * warning and publishes exactly the package (code, shaders, docs, licence;
 * no tests, tools, web build or bench data); the files `deno publish`
 * uploads (to a loopback registry, see loopback_jsr.ts), served over HTTP
 * with no checkout behind them, type-check and run from a separate project
 * that imports `http://127.0.0.1:PORT/mod.ts`: it builds the embedded model
 * and generates the same pixels as the CLI for the same settings.
 */
import { assert, assertEquals } from "../assert.ts";
import { withTempDir } from "../io/io_util.ts";
import { gen } from "../cli/cli_util.ts";
import { decodePngRgb } from "../../src/image/png.ts";
import {
  type Published,
  publishToLoopback,
  ROOT,
  runDeno,
  withStaticServer,
} from "./loopback_jsr.ts";

/** What the package must contain, and the folders it must never ship. */
const REQUIRED = ["mod.ts", "src/lib.ts", "README.md", "LICENSE", "CHANGELOG.md", "deno.json"];
const NEVER = ["tests/", "tools/", "bench/", "web/", "models/", ".ci/", "cli.ts"];
/** A guard against shipping data by accident (the package is ≈ 0.25 MB gzipped). */
const MAX_TARBALL_BYTES = 1024 * 1024;

/** The upload, made once (inside the first test that needs it). */
let upload: Promise<Published> | undefined;
const published = () => upload ??= publishToLoopback();

/** Deno's diagnostics: `warning[rule]: …`, `error[rule]: …`, `Warning …`, `error: …`. */
const FINDING = /^\s*(?:(?:warning|error)(?:\[[\w-]+\])?:|Warning\b)/im;

Deno.test("package: deno publish --dry-run passes with no warning, publishing exactly the package", async () => {
  const run = await runDeno(["publish", "--dry-run", "--allow-dirty"], {
    cwd: ROOT,
    timeoutMs: 180_000,
  });
  const log = run.stdout + run.stderr;
  assertEquals(run.code, 0, log);
  assert(!FINDING.test(log), `the dry run has findings:\n${log}`);
  // "   file:///…/src/lib.ts (3.65KB)" per file.
  const root = ROOT.href;
  const listed = [...log.matchAll(/^\s+(file:\/\/\S+) \(/gm)].map((m) => m[1].slice(root.length))
    .sort();
  for (const f of REQUIRED) assert(listed.includes(f), `${f} is not published:\n${log}`);
  for (const f of listed) {
    assert(!NEVER.some((n) => f === n || f.startsWith(n)), `${f} must not be published`);
  }
  // Every shader the kernels import ships.
  for await (const e of Deno.readDir(new URL("shaders/", ROOT))) {
    if (e.name.endsWith(".wgsl")) {
      assert(listed.includes(`shaders/${e.name}`), `shaders/${e.name} is not published`);
    }
  }
  // The upload holds the same files.
  const pub = await published();
  assertEquals([...pub.files.keys()].sort(), listed);
  assert(
    pub.tarballBytes < MAX_TARBALL_BYTES,
    `the package is ${pub.tarballBytes} bytes gzipped (limit ${MAX_TARBALL_BYTES})`,
  );
  console.log(`package: ${listed.length} files, ${pub.tarballBytes} bytes gzipped`);
});

/** The consumer: a project of its own that knows the package only by its URL. */
function consumerSource(modUrl: string): string {
  return `import {
  createGpu,
  encodePng,
  ensureEmbeddedModel,
  Ideogram4Pipeline,
} from "${modUrl}";

const [output, prompt, seed] = Deno.args;
const dir: string = await ensureEmbeddedModel();
const ctx = await createGpu();
console.error(\`adapter: \${ctx.describe()}\`);
const pipe = await Ideogram4Pipeline.open(ctx, dir);
try {
  const img = await pipe.generate({
    prompt,
    width: 256,
    height: 256,
    preset: "V4_TURBO_12",
    seed: Number(seed),
  });
  await Deno.writeFile(output, encodePng(img.rgb, img.width, img.height, { Seed: seed }));
} finally {
  pipe.release();
  ctx.destroy();
}
`;
}

Deno.test("package: imported from a URL, it builds the embedded model and draws the CLI's image", async () => {
  const pub = await published();
  const prompt = "a lighthouse at dusk, seen from the sea";
  const seed = "20260";
  await withStaticServer(pub.files, async (baseUrl) => {
    await withTempDir(async (project) => {
      const host = new URL(baseUrl).host;
      await Deno.writeTextFile(`${project}/deno.json`, "{}\n");
      await Deno.writeTextFile(`${project}/main.ts`, consumerSource(`${baseUrl}mod.ts`));
      // Types: the consumer type-checks against the served package.
      const check = await runDeno(["check", `--allow-import=${host}`, "main.ts"], {
        cwd: project,
        timeoutMs: 300_000,
      });
      assertEquals(check.code, 0, check.stderr);
      // Run with the permissions a user grants; its own cache, so the model is built from the URL.
      const out = `${project}/url.png`;
      const run = await runDeno(
        [
          "run",
          `--allow-import=${host}`,
          "--allow-env",
          "--allow-read",
          "--allow-write",
          "main.ts",
          out,
          prompt,
          seed,
        ],
        { cwd: project, env: { IDEOGRAM4_CACHE: `${project}/cache` }, timeoutMs: 300_000 },
      );
      assertEquals(run.code, 0, run.stderr);

      const cliOut = `${project}/cli.png`;
      const cli = await gen([
        "--prompt",
        prompt,
        "--seed",
        seed,
        "--width",
        "256",
        "--height",
        "256",
        "--sampler-preset",
        "V4_TURBO_12",
        "--output",
        cliOut,
        // Its own cache too: both models are built by this checkout's code, whatever the
        // machine's shared cache holds or other runs do to it meanwhile.
      ], { IDEOGRAM4_CACHE: `${project}/cli-cache` });
      assertEquals(cli.code, 0, cli.err.join("\n"));

      const a = decodePngRgb(await Deno.readFile(out));
      const b = decodePngRgb(await Deno.readFile(cliOut));
      assertEquals([a.width, a.height], [b.width, b.height]);
      const differ = a.rgb.findIndex((v, i) => v !== b.rgb[i]);
      assert(
        differ < 0,
        `the URL-imported library's pixels differ from the CLI's at byte ${differ} ` +
          `(${a.rgb[differ]} vs ${b.rgb[differ]}); URL run: ${run.stderr.trim()}; CLI: ${
            cli.err.filter((l) => l.startsWith("adapter")).join(" ")
          }`,
      );
      assert(new Set(a.rgb).size > 16, "a flat image");
    });
  });
});
