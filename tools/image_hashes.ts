/**
 * Prints the SHA-256 of the images a fixed set of generations writes: the
 * embedded model at two sizes, small nf4 and fp8 checkpoints (the fp8 one
 * streamed through the library's residency override). A refactor
 * that must keep images bit-identical runs this before and after and
 * compares the output (`diff`).
 *
 *   deno run -A tools/image_hashes.ts [WORK_DIR] > hashes.txt
 */
import { createGpu, Ideogram4Pipeline } from "../mod.ts";

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");

const work = Deno.args[0] ?? await Deno.makeTempDir({ prefix: "ig4-hashes-" });
const cli = new URL("../cli.ts", import.meta.url).pathname;

async function run(args: string[]): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", cli, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`cli.ts ${args.join(" ")} failed:\n${new TextDecoder().decode(out.stderr)}`);
  }
}

for (const format of ["nf4", "fp8"]) {
  const dir = `${work}/${format}`;
  try {
    await Deno.stat(dir);
  } catch {
    await run(["make-checkpoint", "--format", format, "--small", "--out", dir, "-q"]);
  }
}

const cases: [string, string[]][] = [
  ["embedded 256x256", []],
  ["embedded 192x128 3 steps", [
    "--width",
    "192",
    "--height",
    "128",
    "--steps",
    "3",
    "--seed",
    "7",
  ]],
  ["nf4 128x128", ["--model", `${work}/nf4`, "--width", "128", "--height", "128", "--steps", "2"]],
  ["nf4 keep-text-encoder", [
    "--model",
    `${work}/nf4`,
    "--width",
    "64",
    "--height",
    "96",
    "--steps",
    "2",
    "--keep-text-encoder",
  ]],
  ["fp8 128x128", [
    "--model",
    `${work}/fp8`,
    "--width",
    "128",
    "--height",
    "128",
    "--steps",
    "2",
  ]],
];

for (const [name, flags] of cases) {
  const png = `${work}/${name.replaceAll(/\W+/g, "_")}.png`;
  await run(["generate", "-q", "--prompt", "a red fox in the snow", "--output", png, ...flags]);
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(png));
  console.log(`${hex(new Uint8Array(digest))}  ${name}`);
}

// Both DiTs streamed (the CLI streams only when the plan says so).
{
  const ctx = await createGpu();
  const pipe = await Ideogram4Pipeline.open(ctx, `${work}/fp8`, {
    residency: { cond: "stream", uncond: "stream" },
  });
  const img = await pipe.generate({
    prompt: "a red fox in the snow",
    width: 128,
    height: 96,
    steps: 2,
    seed: 5,
  });
  pipe.release();
  ctx.destroy();
  const digest = await crypto.subtle.digest("SHA-256", img.rgb.slice());
  console.log(`${hex(new Uint8Array(digest))}  fp8 streamed (rgb)`);
}
