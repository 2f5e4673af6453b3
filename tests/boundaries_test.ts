/**
 * The boundaries the source layout promises, checked on the source text (no
 * GPU, no network):
 *
 * 1. Deno-only code lives in the Deno areas: the Deno host
 *    (`src/platform/deno.ts`, `src/platform/deno/`: the Deno platform, the
 *    Hugging Face Hub client, the embedded model's cache) and the Deno
 *    application (`src/cli/`, and `src/serve/server.ts`, which listens with
 *    `Deno.serve`). Everything else in `src/` is the portable core that the
 *    browser bundle runs: no `Deno.`, no `node:`.
 * 2. No import runs up the layers of {@link LAYERS}, except the few listed
 *    in {@link ALLOWED_UPWARD}.
 * 3. The registered platform (`platform()` of `src/platform/mod.ts`) is read
 *    only where a public entry point takes its default (see that module).
 *
 * Each failure names the file and line.
 */
import { assertEquals } from "./assert.ts";

/** Folders and files where Deno APIs and `node:` modules are allowed, and why. */
export const DENO_AREAS: Record<string, string> = {
  "src/platform/deno.ts": "the Deno platform: files, mmap over FFI, the environment",
  "src/platform/deno/":
    "Deno-only services mod.ts exports: the Hugging Face Hub client, the embedded model's cache",
  "src/cli/": "the command line, a Deno application (flags, stdin, exit codes)",
  "src/serve/server.ts": "the HTTP API server of `serve` listens with Deno.serve",
};

/**
 * The layers of `src/`, lowest first. A file may import files of its own
 * layer and of lower ones, never of a higher one. The longest matching
 * prefix places a file.
 */
export const LAYERS: { name: string; paths: string[] }[] = [
  { name: "base", paths: ["src/dtype.ts", "src/redact.ts"] },
  { name: "gpu", paths: ["src/gpu/"] },
  // Host tensors: the store interface, the safetensors writer and the Linear weight formats
  // (the GEMM uploads what a format record lays out).
  {
    name: "host tensors",
    paths: ["src/io/tensor_store.ts", "src/io/safetensors_writer.ts", "src/formats/"],
  },
  { name: "ops", paths: ["src/ops/"] },
  {
    name: "io",
    paths: ["src/platform/", "src/io/", "src/text/", "src/image/", "src/prompt/"],
  },
  { name: "models", paths: ["src/models/"] },
  // Checkpoint makers: the tiny models and the published layout's random checkpoints.
  { name: "checkpoints", paths: ["src/tiny/", "src/checkpoint/"] },
  { name: "pipeline", paths: ["src/pipeline/", "src/bench/"] },
  { name: "lib", paths: ["src/lib.ts"] },
  { name: "deno host", paths: ["src/platform/deno.ts", "src/platform/deno/"] },
  { name: "app", paths: ["src/cli/", "src/serve/"] },
];

/** Upward imports that stay for now, each with its reason: `from → to` (file paths). */
export const ALLOWED_UPWARD: Record<string, string> = {};

/**
 * Files that may read the registered platform: the public entry points that
 * take `platform` as an option and default to it, and the CLI, which
 * resolves it once per command.
 */
export const REGISTRY_READERS = [
  "src/lib.ts",
  "src/platform/mod.ts",
  "src/io/checkpoint.ts",
  "src/text/load.ts",
  "src/models/dit.ts",
  "src/models/qwen3_encoder.ts",
  "src/models/vae_decoder.ts",
  "src/pipeline/pipeline.ts",
  "src/pipeline/prompt_encoder.ts",
  "src/pipeline/checkpoint_check.ts",
  "src/pipeline/memory_plan.ts",
  "src/cli/",
];

/** A source file: its path from the repository root and its text. */
export interface SourceFile {
  path: string;
  text: string;
}

const matches = (path: string, prefix: string) =>
  prefix.endsWith("/") ? path.startsWith(prefix) : path === prefix;

/** Whether a line is (part of) a comment, where `Deno.` in an example is harmless. */
function isComment(line: string): boolean {
  const t = line.trim();
  return t.startsWith("*") || t.startsWith("//") || t.startsWith("/*");
}

/** `file:line: …` for each use of `Deno.` or a `node:` module outside {@link DENO_AREAS}. */
export function denoUses(files: SourceFile[]): string[] {
  const out: string[] = [];
  for (const f of files) {
    if (Object.keys(DENO_AREAS).some((a) => matches(f.path, a))) continue;
    f.text.split("\n").forEach((line, i) => {
      if (isComment(line)) return;
      if (/\bDeno\./.test(line) || /["']node:/.test(line)) {
        out.push(`${f.path}:${i + 1}: ${line.trim()}`);
      }
    });
  }
  return out;
}

/** The layer index of a file, or undefined when {@link LAYERS} does not place it. */
export function layerOf(path: string): number | undefined {
  let best: { layer: number; length: number } | undefined;
  LAYERS.forEach((l, layer) => {
    for (const p of l.paths) {
      if (matches(path, p) && (!best || p.length > best.length)) best = { layer, length: p.length };
    }
  });
  return best?.layer;
}

/** The relative imports of a file, resolved to repository paths, with their line numbers. */
export function importsOf(f: SourceFile): { line: number; target: string }[] {
  const out: { line: number; target: string }[] = [];
  const dir = f.path.split("/").slice(0, -1);
  const re = /(?:from\s+|import\s*\(\s*|import\s+)"(\.{1,2}\/[^"]+)"/g;
  for (const m of f.text.matchAll(re)) {
    const parts = [...dir];
    for (const seg of m[1].split("/")) {
      if (seg === "..") parts.pop();
      else if (seg !== ".") parts.push(seg);
    }
    const line = f.text.slice(0, m.index).split("\n").length;
    out.push({ line, target: parts.join("/") });
  }
  return out;
}

/** `file:line: …` for each import that runs up {@link LAYERS}, and for each file it does not place. */
export function layerViolations(files: SourceFile[]): string[] {
  const out: string[] = [];
  for (const f of files) {
    const from = layerOf(f.path);
    if (from === undefined) {
      out.push(`${f.path}: not in the layer table (tests/boundaries_test.ts LAYERS): place it`);
      continue;
    }
    for (const { line, target } of importsOf(f)) {
      if (!target.startsWith("src/")) continue; // shaders, npm
      const to = layerOf(target);
      if (to === undefined || to <= from) continue; // an unplaced target is reported as a file
      if (ALLOWED_UPWARD[`${f.path} → ${target}`]) continue;
      out.push(
        `${f.path}:${line}: imports ${target}: layer "${LAYERS[from].name}" must not import ` +
          `layer "${LAYERS[to].name}"`,
      );
    }
  }
  return out;
}

/** `file:line: …` for each read of the registered platform outside {@link REGISTRY_READERS}. */
export function registryReads(files: SourceFile[]): string[] {
  const out: string[] = [];
  const re = /import\s*\{([^}]*)\}\s*from\s*"[^"]*platform\/mod\.ts"/g;
  for (const f of files) {
    if (REGISTRY_READERS.some((r) => matches(f.path, r))) continue;
    for (const m of f.text.matchAll(re)) {
      const names = m[1].split(",").map((s) => s.trim()).filter((s) => !s.startsWith("type "));
      if (names.some((n) => /^platform\b/.test(n))) {
        const line = f.text.slice(0, m.index).split("\n").length;
        out.push(`${f.path}:${line}: reads the registered platform; take it as a parameter`);
      }
    }
  }
  return out;
}

/** The `.ts` files under `dir` (a path from the repository root). */
async function sourceFiles(dir: string): Promise<SourceFile[]> {
  const out: SourceFile[] = [];
  for await (const e of Deno.readDir(new URL(`../${dir}`, import.meta.url))) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...await sourceFiles(path));
    else if (e.name.endsWith(".ts")) {
      out.push({ path, text: await Deno.readTextFile(new URL(`../${path}`, import.meta.url)) });
    }
  }
  return out;
}

const files = await sourceFiles("src");

Deno.test("boundaries: the portable core uses no Deno API and no node: module", () => {
  assertEquals(denoUses(files), []);
});

Deno.test("boundaries: no import runs up the layers", () => {
  assertEquals(layerViolations(files), []);
});

Deno.test("boundaries: only public entry points and the CLI read the registered platform", () => {
  assertEquals(registryReads(files), []);
});

Deno.test("boundaries: the checks name what breaks them", () => {
  const bad: SourceFile[] = [
    {
      path: "src/ops/embedding.ts",
      text: 'import { f16ToF32 } from "../dtype.ts";\n' +
        'import type { ByteSource } from "../platform/types.ts";\n',
    },
    {
      path: "src/io/hub.ts",
      text: '/** Deno.stat in a comment is fine. */\nimport { join } from "node:path";\n' +
        "const s = await Deno.stat(x);\n",
    },
    { path: "src/models/x.ts", text: 'import { platform } from "../platform/mod.ts";\n' },
    { path: "src/elsewhere/y.ts", text: "" },
  ];
  assertEquals(denoUses(bad), [
    'src/io/hub.ts:2: import { join } from "node:path";',
    "src/io/hub.ts:3: const s = await Deno.stat(x);",
  ]);
  assertEquals(layerViolations(bad), [
    'src/ops/embedding.ts:2: imports src/platform/types.ts: layer "ops" must not import layer "io"',
    "src/elsewhere/y.ts: not in the layer table (tests/boundaries_test.ts LAYERS): place it",
  ]);
  assertEquals(registryReads(bad), [
    "src/models/x.ts:1: reads the registered platform; take it as a parameter",
  ]);
});
