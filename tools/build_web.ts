/**
 * `deno task build:web`: bundles the browser build with Deno's own bundler
 * (`deno bundle`, esbuild inside) into self-contained ES modules in
 * `web/dist/`:
 *
 * - `ideogram4.js`: the library (`web/ideogram4.ts`: all of `mod.ts` but the
 *   Deno platform) with its npm dependencies, for pages of your own;
 * - `app.js`: the demo page's script (`web/app.ts`): the form, the caption
 *   preview and the drawing; no GPU work;
 * - `worker.js`: the page's generation worker (`web/worker.ts`), library
 *   included: it owns the device and runs the pipeline;
 * - `bench.js`: the benchmark page (`web/bench.ts`, `web/bench.html`).
 *
 * Each bundle is then scanned: a `Deno.*` reference, a `node:` import or a
 * bare import left unbundled would break in a browser, so any of them fails
 * the build, naming the line.
 */

/** The bundles, by entry point (relative to the repository root) → output name. */
export const WEB_ENTRIES = {
  "web/ideogram4.ts": "ideogram4.js",
  "web/app.ts": "app.js",
  "web/worker.ts": "worker.js",
  "web/bench.ts": "bench.js",
} as const;

export const DEFAULT_OUT_DIR = new URL("../web/dist/", import.meta.url);
const ROOT = new URL("../", import.meta.url);

/** What would not run in a browser, one finding per line. */
const BROWSER_HAZARDS: [RegExp, string][] = [
  [/\bDeno\s*(?:\?\.|\.|\[)/, "a Deno API"],
  [/\bglobalThis\s*\.\s*Deno\b/, "a Deno API"],
  [/(?:\bfrom\s*|\bimport\s*\(?\s*)["']node:/, "a node: import"],
  [/\brequire\s*\(\s*["'][^"'./]/, "a require() of a package"],
  [/^\s*import\b[^"']*["'][^"'./]/, "an unbundled bare import"],
];

/** `line N: <what>: <code>` for each line of `js` that would not run in a browser. */
export function browserHazards(js: string): string[] {
  const found: string[] = [];
  js.split("\n").forEach((line, i) => {
    for (const [re, what] of BROWSER_HAZARDS) {
      if (re.test(line)) {
        found.push(`line ${i + 1}: ${what}: ${line.trim().slice(0, 160)}`);
        break;
      }
    }
  });
  return found;
}

export interface BuildWebOptions {
  outDir?: URL;
  minify?: boolean;
  /** Progress lines; default silent. */
  log?: (line: string) => void;
}

export interface BuiltBundle {
  entry: string;
  path: string;
  bytes: number;
}

/** Bundles {@link WEB_ENTRIES} into `outDir` and checks them; throws on any failure. */
export async function buildWeb(opts: BuildWebOptions = {}): Promise<BuiltBundle[]> {
  const outDir = opts.outDir ?? DEFAULT_OUT_DIR;
  await Deno.mkdir(outDir, { recursive: true });
  const built: BuiltBundle[] = [];
  for (const [entry, name] of Object.entries(WEB_ENTRIES)) {
    const out = new URL(name, outDir);
    const args = [
      "bundle",
      "--quiet",
      "--platform=browser",
      "--format=esm",
      "--sourcemap=linked",
      ...(opts.minify ? ["--minify"] : []),
      `--output=${out.pathname}`,
      entry,
    ];
    // One entry per run: `--outdir` with several entries names outputs after
    // their common folder, which would tie the names to the layout.
    const res = await new Deno.Command(Deno.execPath(), {
      args,
      cwd: ROOT,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const said = new TextDecoder().decode(res.stderr).trim();
    if (!res.success) throw new Error(`deno bundle ${entry} failed:\n${said}`);
    const js = await Deno.readTextFile(out);
    const hazards = browserHazards(js);
    if (hazards.length > 0) {
      throw new Error(
        `${out.pathname}: the bundle of ${entry} would not run in a browser:\n  ` +
          hazards.slice(0, 20).join("\n  ") +
          (hazards.length > 20 ? `\n  … ${hazards.length - 20} more` : "") +
          "\n(core code must reach the host only through src/platform)",
      );
    }
    built.push({ entry, path: out.pathname, bytes: new TextEncoder().encode(js).length });
    opts.log?.(`${entry} → ${out.pathname} (${(js.length / 1024).toFixed(0)} KiB)`);
  }
  return built;
}

if (import.meta.main) {
  try {
    await buildWeb({ minify: Deno.args.includes("--minify"), log: console.log });
  } catch (e) {
    console.error(`build:web: ${e instanceof Error ? e.message : e}`);
    Deno.exit(1);
  }
}
