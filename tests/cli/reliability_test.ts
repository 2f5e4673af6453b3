/**
 * Issue 13's pipeline and CLI items: cheap checks before expensive work
 * (refusals that reach neither the Hub nor the GPU), prompt and noise files,
 * long output names, non-finite values, one exit-code rule, the adapter
 * line, and no third-party noise on the terminal.
 */
import { assert, assertEquals } from "../assert.ts";
import { listDir, withTempDir } from "../io/io_util.ts";
import { FakeHub } from "../io/fake_hub_server.ts";
import { damagedModel } from "../pipeline/damaged_model.ts";
import { decodePngRgb } from "../../src/image/png.ts";
import { writeNpy } from "../../src/pipeline/npy.ts";
import { ensureEmbeddedModel } from "../../src/platform/deno/embedded_model.ts";
import { adapterAdvice } from "../../src/cli/runtime_env.ts";
import { runCaption, runVerify } from "../../src/cli/prompt_commands.ts";
import { runBench } from "../../bench/main.ts";
import { gen, hubFiles } from "./cli_util.ts";

const TINY = await ensureEmbeddedModel();

Deno.test("generate: bad input is refused with exit 2 before the Hub or the GPU is reached", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeFile(`${dir}/latin1.txt`, new Uint8Array([0x63, 0x61, 0x66, 0xe9]));
    await Deno.writeFile(`${dir}/image.png`, new Uint8Array([0x89, 0x50, 0x4e, 0x47, 13, 10]));
    await Deno.mkdir(`${dir}/folder.png`);
    await Deno.mkdir(`${dir}/in`);
    const out = `${dir}/in/out.png`;
    // A Hub nobody listens on: any download attempt would fail with exit 1, not 2.
    const env = { HF_ENDPOINT: "http://127.0.0.1:9", HF_HUB_CACHE: `${dir}/hf` };
    const model = ["--model", "test-org/never-fetched"];
    const cases: [string[], string][] = [
      [["--prompt-file", `${dir}/missing.txt`], "no such file"],
      [["--prompt-file", `${dir}/latin1.txt`], "not valid UTF-8 at byte offset 3"],
      [["--prompt-file", `${dir}/image.png`], "a PNG image"],
      [["--prompt-file", "/dev/zero"], "larger than 512 KiB"],
      [["--prompt", "x", "--init-noise", `${dir}/missing.npy`], "no such file"],
      [["--prompt", "x", "--init-noise", "/dev/zero"], "not a regular file"],
      [["--prompt", "x", "--guidance", "1e308"], "guidance value 1e+308"],
      [["--prompt", "x", "--mu", "1e300"], "mu 1e+300"],
      [["--prompt", "x", "--std", "1e9"], "std 1000000000"],
      [["--prompt", "x", "--hive-visual-key", "  "], "--hive-visual-key is empty"],
      [["--prompt", "x", "--output", `${dir}/nope/out.png`], "does not exist"],
      [["--prompt", "x", "--output", `${dir}/folder.png`], "is a folder"],
      [["--prompt", "x", "--output", `${dir}/in/${"n".repeat(252)}.png`], "256 bytes"],
    ];
    for (const [args, mention] of cases) {
      const r = await gen([...model, "--output", out, ...args, "-q"], env);
      const msg = r.err.join("\n");
      assertEquals(r.code, 2, `${args.join(" ")}: ${msg}`);
      assert(msg.includes(mention), `${args.join(" ")}: "${msg}" should mention "${mention}"`);
      assert(!msg.includes("folder, not a file") || mention === "is a folder", msg);
    }
    if (Deno.uid() !== 0) { // root writes anywhere
      await Deno.mkdir(`${dir}/ro`, { mode: 0o555 });
      const r = await gen([...model, "--prompt", "x", "--output", `${dir}/ro/out.png`], env);
      assertEquals(r.code, 2, r.err.join("\n"));
      assert(r.err.join("\n").includes("not writable"), r.err.join("\n"));
    }
    assertEquals(await listDir(`${dir}/in`), []);
    assertEquals(await listDir(dir), ["folder.png", "image.png", "in", "latin1.txt"]);
  });
});

Deno.test("generate: a prompt over 2048 tokens is refused after fetching only the tokenizer", async () => {
  const files = await hubFiles(TINY);
  const hub = FakeHub.start({ repo: "test-org/tiny", commit: "ab".repeat(20), files });
  try {
    await withTempDir(async (dir) => {
      const env = { HF_ENDPOINT: hub.url, HF_HUB_CACHE: `${dir}/hf` };
      const long = Array.from({ length: 3000 }, (_, i) => `word${i}`).join(" ");
      const r = await gen([
        "--model",
        "test-org/tiny",
        "--prompt",
        long,
        "--output",
        `${dir}/out.png`,
        "-q",
      ], env);
      assertEquals(r.code, 2, r.err.join("\n"));
      assert(r.err.join("\n").includes("at most 2048"), r.err.join("\n"));
      const fetched = hub.requests.map((q) => q.url).filter((u) => u.includes("/resolve/"));
      assert(fetched.length > 0, "the tokenizer was fetched");
      assert(fetched.every((u) => u.includes("tokenizer/")), fetched.join("\n"));
    });
  } finally {
    await hub.close();
  }
});

Deno.test("generate: a NaN in a VAE weight exits 1 naming the tensor; the old output survives", async () => {
  await withTempDir(async (dir) => {
    const { model, tensor } = await damagedModel(TINY, dir, "vae", /conv_in\.bias$/);
    const out = `${dir}/out.png`;
    await Deno.writeTextFile(out, "an older image");
    const args = ["--model", model, "--prompt", "x", "--width", "256", "--height", "256"];
    const r = await gen([...args, "--steps", "1", "--output", out, "-q"]);
    const msg = r.err.join("\n");
    assertEquals(r.code, 1, msg);
    for (const part of ["non-finite", "decode", `'${tensor}'`, "nothing written"]) {
      assert(msg.includes(part), `"${msg}" should mention "${part}"`);
    }
    assertEquals(await Deno.readTextFile(out), "an older image");
    assertEquals(await listDir(dir), ["model", "out.png"]);
  });
});

Deno.test("generate: initial noise that overflows is the user's input (exit 2); nothing written", async () => {
  await withTempDir(async (dir) => {
    const noise = new Float32Array(256 * 128).fill(3e38);
    await Deno.writeFile(`${dir}/big.npy`, writeNpy(noise, [256, 128]));
    const r = await gen([
      "--prompt",
      "x",
      "--steps",
      "1",
      "--init-noise",
      `${dir}/big.npy`,
      "--output",
      `${dir}/out.png`,
      "-q",
    ]);
    assertEquals(r.code, 2, r.err.join("\n"));
    assert(r.err.join("\n").includes("sampling step 1/1"), r.err.join("\n"));
    assertEquals(await listDir(dir), ["big.npy"]);
  });
});

Deno.test("generate: a 250-byte output name works; the adapter is named", async () => {
  await withTempDir(async (dir) => {
    const name = `${"a".repeat(246)}.png`;
    const r = await gen(["--prompt", "x", "--steps", "1", "--output", `${dir}/${name}`]);
    assertEquals(r.code, 0, r.err.join("\n"));
    assertEquals(await listDir(dir), [name]);
    assertEquals(decodePngRgb(await Deno.readFile(`${dir}/${name}`)).width, 256);
    assert(r.err.some((l) => /^adapter: \S/.test(l)), r.err.join("\n"));
  });
});

Deno.test("adapter advice: wgpu's OpenGL fallback on Linux gets the Vulkan fix; others nothing", () => {
  const gl = new Set(["texture-compression-etc2", "timestamp-query"]);
  const vk = new Set(["shader-f16", "timestamp-query"]);
  const none = () => undefined;
  const advice = adapterAdvice(gl, none, "linux");
  assert(advice?.includes("mesa-vulkan-drivers") && advice.includes("OpenGL"), advice);
  assertEquals(adapterAdvice(vk, none, "linux"), undefined);
  assertEquals(adapterAdvice(gl, (n) => n === "DENO_WEBGPU_BACKEND" ? "gl" : undefined), undefined);
  assertEquals(adapterAdvice(gl, none, "darwin"), undefined);
});

Deno.test("every command: unknown flags exit 2 and --help states the exit-code rule", async () => {
  const io = () => {
    const out: string[] = [], err: string[] = [];
    return {
      out,
      err,
      io: {
        readStdin: () => Promise.resolve(""),
        readFile: () => Promise.reject(new Error("no files")),
        stdout: (t: string) => void out.push(t),
        stderr: (t: string) => void err.push(t),
      },
    };
  };
  const v = io(), c = io();
  assertEquals(await runVerify(["--frob"], v.io), 2);
  assertEquals(await runCaption(["--frob"], c.io), 2);
  assertEquals(await runBench(["--frob"]), 2);
  assertEquals((await gen(["--frob"])).code, 2);
  const helps = [io(), io()];
  assertEquals(await runVerify(["--help"], helps[0].io), 0);
  assertEquals(await runCaption(["--help"], helps[1].io), 0);
  const g = await gen(["--help"]);
  for (const text of [helps[0].out, helps[1].out, g.out].map((o) => o.join("\n"))) {
    assert(text.includes("Exit codes") && text.includes("2  rejected"), text.slice(-400));
  }
});

Deno.test("cli info: no XDG_RUNTIME_DIR lines from Mesa; the OpenGL fallback is named with its fix", async () => {
  await withTempDir(async (dir) => {
    const cli = new URL("../../cli.ts", import.meta.url).pathname;
    const env: Record<string, string> = { PATH: Deno.env.get("PATH") ?? "", TMPDIR: dir };
    for (const k of ["HOME", "DENO_DIR", "NO_COLOR"]) {
      const v = Deno.env.get(k);
      if (v !== undefined) env[k] = v;
    }
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", cli, "info"],
      env,
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(r.stderr);
    assertEquals(r.code, 0, err);
    assert(!err.includes("XDG_RUNTIME_DIR"), err);
    assert(new TextDecoder().decode(r.stdout).includes("adapter:"));
    // No Vulkan driver: wgpu falls back to OpenGL (where Mesa's GL driver exists), and says so.
    const gl = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", cli, "info"],
      env: { ...env, VK_ICD_FILENAMES: `${dir}/none.json`, VK_DRIVER_FILES: `${dir}/none.json` },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const glErr = new TextDecoder().decode(gl.stderr);
    if (gl.code === 0) {
      assert(glErr.includes("runs on OpenGL") && glErr.includes("mesa-vulkan-drivers"), glErr);
    } else {
      assert(glErr.includes("No WebGPU adapter"), glErr); // no GL driver either
    }
  });
});
