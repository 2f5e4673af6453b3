#!/usr/bin/env -S deno run -A
/**
 * The `deno` command line: `deno run -A cli.ts <command> [flags]`.
 *
 *   info      the WebGPU adapter this runtime gets, its features and limits
 *   bench     the GPU benchmark (same as `deno task bench`)
 *   verify    check a JSON caption (file or stdin); exit 0 valid, 2 invalid
 *   caption   build or pretty-print a JSON caption from flags
 *   generate  text → image (PNG); without --model on the embedded tiny model
 *   serve     HTTP server keeping the model warm (OpenAI-compatible images API)
 *   batch     many images from a JSONL file with the model loaded once
 *   make-checkpoint  a random checkpoint in the published layout (nf4 / fp8)
 *   dump      each component's output on fixed inputs as .npy (comparisons)
 *
 * The commands live in `src/cli/` (and `serve`'s server in `src/serve/`): the
 * Deno application layer, the one part of `src/` besides the Deno host
 * (`src/platform/deno*`) that may use Deno directly: flags (`node:util`'s
 * `parseArgs`), stdin and stdout, the output path's write probe, the files
 * `make-checkpoint` and `dump` write, the runtime folder Mesa wants,
 * `Deno.serve`. They reach the library only through its modules, and
 * resolve the platform once per command.
 */
import { setPlatform } from "./src/platform/mod.ts";
import { denoPlatform } from "./src/platform/deno.ts";
import { GpuContext } from "./src/gpu/context.ts";
import { runCaption, runVerify } from "./src/cli/prompt_commands.ts";
import { runGenerate } from "./src/cli/generate_command.ts";
import { runServe } from "./src/cli/serve_command.ts";
import { runBatch } from "./src/cli/batch_command.ts";
import { redactedMessage } from "./src/redact.ts";
import { EXIT_CODES_HELP, exitCodeOf } from "./src/cli/exit_codes.ts";
import { adapterAdvice, ensureRuntimeDir } from "./src/cli/runtime_env.ts";
import { runMakeCheckpoint } from "./src/cli/make_checkpoint.ts";
import { runDump } from "./src/cli/dump_command.ts";

const USAGE = `usage: deno run -A cli.ts <command> [flags]

commands:
  info       show the WebGPU adapter, its features and limits
  bench      run the GPU benchmark (--quick, --json; --model; --serve; bench --help)
  verify     verify a JSON caption: verify [FILE] (stdin when omitted)
  caption    build a JSON caption from flags (caption --help)
  generate   text to image: generate --prompt TEXT [--output out.png] (generate --help)
  serve      HTTP server keeping the model warm: serve [--port N] (serve --help)
  batch      images from a JSONL file: batch prompts.jsonl --out DIR (batch --help)
  make-checkpoint  random weights in the published layout: --format nf4|fp8 --out DIR [--small]
  dump       each component's output as .npy: dump --model DIR --out DIR (dump --help)

${EXIT_CODES_HELP}
`;

async function info(): Promise<number> {
  const ctx = await GpuContext.create();
  console.log(`adapter: ${ctx.describe()}`);
  const advice = adapterAdvice(ctx.adapterFeatures, (name) => Deno.env.get(name));
  if (advice) console.error(`warning: ${advice}`);
  const i = ctx.adapterInfo;
  console.log(`vendor: ${i.vendor || "?"}  architecture: ${i.architecture || "?"}`);
  for (
    const k of [
      "maxBufferSize",
      "maxStorageBufferBindingSize",
      "maxComputeWorkgroupStorageSize",
      "maxComputeInvocationsPerWorkgroup",
      "maxStorageBuffersPerShaderStage",
    ] as const
  ) console.log(`${k}: ${ctx.limits[k]}`);
  ctx.destroy();
  return 0;
}

async function main(args: string[]): Promise<number> {
  // Before the first adapter request: keeps Mesa's XDG_RUNTIME_DIR lines off the terminal.
  ensureRuntimeDir();
  setPlatform(denoPlatform());
  const [cmd, ...rest] = args;
  switch (cmd) {
    case "info":
      return await info();
    case "bench": {
      const { runBench } = await import("./bench/main.ts");
      return await runBench(rest);
    }
    case "verify":
      return await runVerify(rest);
    case "caption":
      return await runCaption(rest);
    case "generate":
      return await runGenerate(rest);
    case "serve":
      return await runServe(rest);
    case "batch":
      return await runBatch(rest);
    case "make-checkpoint":
      return await runMakeCheckpoint(rest);
    case "dump":
      return await runDump(rest);
    case undefined:
    case "help":
    case "--help":
    case "-h":
      console.log(USAGE);
      return cmd === undefined ? 2 : 0;
    default:
      console.error(`unknown command '${cmd}'\n\n${USAGE}`);
      return 2;
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    console.error(`error: ${redactedMessage(e)}`);
    Deno.exit(exitCodeOf(e));
  }
}
