/**
 * Runs `generate` in-process for the CLI tests, capturing its output, with
 * only the given environment (a developer's own keys never leak in) plus the
 * cache settings, so every test shares the embedded model's cache. Also a
 * model folder's files as a fake Hugging Face repo serves them.
 */
import { type GenerateIo, runGenerate } from "../../src/cli/generate_command.ts";
import { setPlatform } from "../../src/platform/mod.ts";
import { denoPlatform } from "../../src/platform/deno.ts";
import { readPromptFile } from "../../src/cli/read_limited.ts";
import { COMPONENT_FOLDERS } from "../../src/io/model_folders.ts";
import type { FakeFile } from "../io/fake_hub_server.ts";

setPlatform(denoPlatform());

const CACHE_VARS = ["IDEOGRAM4_CACHE", "XDG_CACHE_HOME", "HOME"];

export interface Run {
  code: number;
  /** Lines written to stdout / stderr. */
  out: string[];
  err: string[];
}

export async function gen(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const out: string[] = [], err: string[] = [];
  const io: GenerateIo = {
    readStdin: () => Promise.resolve(""),
    readFile: readPromptFile,
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
    env: (name) => env[name] ?? (CACHE_VARS.includes(name) ? Deno.env.get(name) : undefined),
  };
  const code = await runGenerate(args, io);
  return { code, out, err };
}

/** The files of the checkpoint folder `dir`, component by component, weights as LFS files. */
export async function hubFiles(dir: string): Promise<FakeFile[]> {
  const files: FakeFile[] = [];
  for (const sub of COMPONENT_FOLDERS) {
    for await (const e of Deno.readDir(`${dir}/${sub}`)) {
      const bytes = await Deno.readFile(`${dir}/${sub}/${e.name}`);
      files.push({ path: `${sub}/${e.name}`, bytes, lfs: e.name.endsWith(".safetensors") });
    }
  }
  return files;
}
