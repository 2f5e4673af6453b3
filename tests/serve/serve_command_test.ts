/**
 * The `serve` command's wiring (flags → engine → listening server → clean
 * stop) and the `--text-encoder auto` decision on real-size checkpoint
 * headers: kept where both transformers stay resident beside it, freed
 * where keeping it would make them stream.
 */
import { assert, assertEquals } from "../assert.ts";
import { runServe } from "../../src/cli/serve_command.ts";
import { textEncoderFits } from "../../src/cli/warm_model.ts";
import type { GenerateIo } from "../../src/cli/generate_command.ts";
import { createGpu, GpuContext } from "../../src/gpu/context.ts";
import { GIB } from "../../src/pipeline/memory_plan.ts";
import { withSparseDir, writeSparseCheckpoint } from "../pipeline/sparse_checkpoint.ts";
import { TINY } from "./serve_util.ts";

const CACHE_VARS = ["IDEOGRAM4_CACHE", "XDG_CACHE_HOME", "HOME"];

function io(err: string[], env: Record<string, string> = {}): GenerateIo {
  return {
    readStdin: () => Promise.resolve(""),
    readFile: (p) => Deno.readTextFile(p),
    stdout: (t) => err.push(t),
    stderr: (t) => err.push(t),
    env: (name) => env[name] ?? (CACHE_VARS.includes(name) ? Deno.env.get(name) : undefined),
  };
}

Deno.test("serve command: listens, requires the key from the environment, stops cleanly", async () => {
  const err: string[] = [];
  let stop!: () => void;
  const stopped = new Promise<void>((r) => stop = r);
  let checked = false;
  const code = await runServe(
    ["--port", "0", "--queue-size", "2"],
    io(err, {
      IDEOGRAM4_API_KEY: "env-key-123",
    }),
    {
      stop: stopped,
      onListen: async (server) => {
        try {
          assert(/^http:\/\/127\.0\.0\.1:\d+$/.test(server.url), server.url);
          assertEquals((await fetch(`${server.url}/healthz`)).status, 200);
          const denied = await fetch(`${server.url}/v1/models`);
          assertEquals(denied.status, 401);
          await denied.body?.cancel();
          const ok = await fetch(`${server.url}/v1/models`, {
            headers: { authorization: "Bearer env-key-123" },
          });
          assertEquals((await ok.json()).data[0].id, "ideogram-4");
          assertEquals(server.queue.capacity, 2);
          checked = true;
        } finally {
          stop();
        }
      },
    },
  );
  assertEquals(code, 0, err.join("\n"));
  assert(checked, err.join("\n"));
  const text = err.join("\n");
  assert(text.includes("text encoder: kept loaded between prompts (--text-encoder auto)"), text);
  assert(/listening on http:\/\/127\.0\.0\.1:\d+ \(API key required\)/.test(text), text);
  assert(!text.includes("env-key-123"), "the key is never printed");

  for (
    const [args, message] of [
      [["--port", "70000"], "--port 70000: must be at most 65535"],
      [["--queue-size=-1"], "--queue-size -1: must be at least 0"],
      [["--text-encoder", "maybe"], "--text-encoder maybe: use auto, keep or free"],
      [["--bogus"], "Unknown option '--bogus'"],
    ] as const
  ) {
    const e: string[] = [];
    assertEquals(await runServe([...args], io(e)), 2, args.join(" "));
    assert(e.join("\n").includes(message), e.join("\n"));
  }
});

Deno.test("serve command: --text-encoder auto keeps it where both transformers stay resident", async () => {
  const ctx = await createGpu();
  try {
    assertEquals(await textEncoderFits(ctx, TINY, 8 * GIB, 256, 256), true);
    await withSparseDir(async (dir) => {
      await writeSparseCheckpoint(dir, { format: "nf4", tokenizerFrom: TINY });
      // nf4: text encoder 3.64 GiB, transformers 4.87 + 4.74 GiB, planned for a desktop
      // adapter (2 GiB bindings): only the weights decide. With WebGPU's guaranteed 128 MiB the
      // longest prompt's text features [2048, 53248] f32 (416 MiB) fit no binding at all.
      const desktop = GpuContext.shapeOnly();
      assertEquals(await textEncoderFits(desktop, dir, 8 * GIB, 256, 256), false);
      assertEquals(await textEncoderFits(desktop, dir, 24 * GIB, 256, 256), true);
      const small = GpuContext.shapeOnly({
        overrides: { maxStorageBufferBindingSize: 128 * 2 ** 20 },
      });
      assertEquals(await textEncoderFits(small, dir, 24 * GIB, 256, 256), false);
    });
  } finally {
    ctx.destroy();
  }
});
