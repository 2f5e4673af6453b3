/**
 * `generate --dry-run`: checks the checkpoint (headers only) and prints the
 * memory plan, with WebGPU's adapter request disabled to prove it never
 * creates a device, and without writing an image. Real-size sparse nf4 and
 * fp8 checkpoints pass with plausible sizes; a broken one exits 1 naming
 * file and tensor; the embedded model passes. `--verbose` on a real (tiny)
 * generation prints the measured peak GPU memory.
 */
import { assert, assertEquals } from "../assert.ts";
import { withTempDir } from "../io/io_util.ts";
import { withSparseDir, writeSparseCheckpoint } from "../pipeline/sparse_checkpoint.ts";
import { ensureEmbeddedModel } from "../../src/platform/deno/embedded_model.ts";
import { gen as runLines } from "./cli_util.ts";

const TINY = await ensureEmbeddedModel();
interface Run {
  code: number;
  out: string;
  err: string;
}

/** `generate` with its output joined into text. */
async function gen(args: string[]): Promise<Run> {
  const r = await runLines(args);
  return { code: r.code, out: r.out.join("\n"), err: r.err.join("\n") };
}

/** Runs a dry run with `navigator.gpu.requestAdapter` throwing: any GPU use fails it. */
async function dryRun(args: string[]): Promise<Run> {
  const gpu = navigator.gpu;
  Object.defineProperty(gpu, "requestAdapter", {
    value: () => {
      throw new Error("the dry run asked for a GPU adapter");
    },
    configurable: true,
    writable: true,
  });
  try {
    return await gen(["--dry-run", ...args]);
  } finally {
    delete (gpu as unknown as Record<string, unknown>).requestAdapter;
  }
}

function assertHas(text: string, ...parts: string[]): void {
  for (const p of parts) assert(text.includes(p), `output lacks "${p}":\n${text}`);
}

Deno.test("dry run: the embedded model passes, with or without a prompt; no GPU, no file", async () => {
  await withTempDir(async (dir) => {
    const output = `${dir}/out.png`;
    const r = await dryRun(["--output", output]);
    assertEquals(r.code, 0, r.err);
    assertHas(
      r.out,
      "every tensor matches the architecture",
      "memory plan for 256x256, 2048 text tokens, budget 8.00 GiB",
      "streaming: no",
      "fits",
    );
    const p = await dryRun(["--prompt", "a red fox in the snow", "--output", output]);
    assertEquals(p.code, 0, p.err);
    assert(/text tokens: \d+ \(this prompt as given/.test(p.out), p.out);
    assertEquals([...Deno.readDirSync(dir)], []);
  });
  assert(TINY.length > 0);
});

Deno.test("dry run: flags are checked first", async () => {
  for (const bad of ["0", "-2", "lots"]) {
    const r = await dryRun([`--gpu-memory=${bad}`]);
    assertEquals(r.code, 2, r.err);
    assertHas(r.err, `--gpu-memory ${bad}`);
  }
  const r = await dryRun(["--width", "1000"]);
  assertEquals(r.code, 2, r.err);
  // A real generation still needs a prompt.
  assertEquals((await gen([])).code, 2);
});

Deno.test("dry run: real-size sparse nf4 checkpoint, plans on 8, 24 and 2 GiB", async () => {
  await withSparseDir(async (dir) => {
    await writeSparseCheckpoint(dir, { format: "nf4", tokenizerFrom: TINY });
    const r = await dryRun(["--model", dir]);
    assertEquals(r.code, 0, r.err);
    assertHas(
      r.out,
      "memory plan for 1024x1024, 2048 text tokens, budget 8.00 GiB (7.20 GiB usable",
      "text encoder               3.64 GiB on the GPU (nf4_bf16); embedding 1.16 GiB on the host",
      "transformer                4.87 GiB (nf4_bf16; 34 blocks)",
      "unconditional_transformer  4.74 GiB",
      "vae                        189.3 MiB",
      "transformer resident, unconditional_transformer streamed (streamed blocks go through " +
        "two slots of 141.9 MiB each)",
      "streaming: yes; host→GPU weight traffic 4.71 GiB per step, 226.14 GiB for 48 steps",
      "the transformers are freed before decoding",
    );
    const big = await dryRun(["--model", dir, "--gpu-memory", "24", "--prompt", "a cat"]);
    assertEquals(big.code, 0, big.err);
    assertHas(big.out, "streaming: no", "peak GPU memory 12.", "fits");
    const small = await dryRun(["--model", dir, "--gpu-memory", "2"]);
    assertEquals(small.code, 1, small.out);
    assertHas(small.out, "transformer streamed, unconditional_transformer streamed", "NOT fit");
    assertHas(small.err, "needs about 4.30 GiB of GPU memory even with streaming");
    // Beyond upstream's recommended 2048: planned like any size, with one warning.
    const wide = await dryRun(["--model", dir, "--gpu-memory", "80", "--width", "2560"]);
    assertEquals(wide.code, 0, wide.err);
    assertHas(wide.err, "warning: 2560x1024: width 2560 is outside the recommended 256…2048");
    assertHas(wide.out, "memory plan for 2560x1024", "largest buffer", "fits");
    // 4096²: one FFN activation over 67584 tokens exceeds the 2 GiB binding assumed for a dry run.
    const huge = await dryRun([
      "--model",
      dir,
      "--gpu-memory",
      "80",
      "--width",
      "4096",
      "--height",
      "4096",
    ]);
    assertEquals(huge.code, 1, huge.out);
    assertHas(
      huge.err,
      "4096x4096 with 2048 prompt tokens needs one buffer 'cond.layers.0.feed_forward.w1.out' " +
        "of 3.09 GiB",
      "above the adapter's largest storage buffer (2.00 GiB)",
    );
  });
});

Deno.test("dry run: real-size sparse fp8 checkpoint on 16 GiB", async () => {
  await withSparseDir(async (dir) => {
    await writeSparseCheckpoint(dir, { format: "fp8", tokenizerFrom: TINY });
    const r = await dryRun(["--model", dir, "--gpu-memory", "16", "--width", "1536"]);
    assertEquals(r.code, 0, r.err);
    assertHas(
      r.out,
      "memory plan for 1536x1024",
      "text encoder               6.48 GiB on the GPU (fp8_bf16)",
      "transformer                8.65 GiB (fp8_bf16; 34 blocks)",
      "transformer resident, unconditional_transformer streamed",
      "streaming: yes",
    );
  });
});

Deno.test("dry run: a broken checkpoint exits 1 listing file and tensor", async () => {
  await withSparseDir(async (dir) => {
    await writeSparseCheckpoint(dir, {
      format: "fp8",
      tokenizerFrom: TINY,
      edit: (component, t) => {
        if (component === "unconditional_transformer") {
          t.set("layers.5.attention.norm_k.weight", { dtype: "BF16", shape: [255] });
        }
        if (component === "vae") t.delete("decoder.conv_out.bias");
      },
    });
    const r = await dryRun(["--model", dir]);
    assertEquals(r.code, 1, r.out);
    assertHas(
      r.err,
      "has 2 problem(s)",
      `${dir}/unconditional_transformer/diffusion_pytorch_model.safetensors: tensor ` +
        `'layers.5.attention.norm_k.weight' has shape [255], expected [256]`,
      `${dir}/vae has no tensor 'decoder.conv_out.bias'`,
    );
    assertEquals(r.out, "");
  });
});

Deno.test("dry run: a word-embedding table smaller than the tokenizer's ids exits 1", async () => {
  await withTempDir(async (dir) => {
    // The embedded model with a tokenizer that has one more token, id 999999.
    for (const f of ["text_encoder", "transformer", "unconditional_transformer", "vae"]) {
      await Deno.symlink(`${TINY}/${f}`, `${dir}/${f}`);
    }
    await Deno.mkdir(`${dir}/tokenizer`);
    for await (const e of Deno.readDir(`${TINY}/tokenizer`)) {
      await Deno.copyFile(`${TINY}/tokenizer/${e.name}`, `${dir}/tokenizer/${e.name}`);
    }
    const tj = JSON.parse(await Deno.readTextFile(`${dir}/tokenizer/tokenizer.json`));
    tj.added_tokens.push({
      id: 999999,
      content: "<|far|>",
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    });
    await Deno.writeTextFile(`${dir}/tokenizer/tokenizer.json`, JSON.stringify(tj));
    const r = await dryRun(["--model", dir, "--prompt", "a kite"]);
    assertEquals(r.code, 1, r.out);
    assertHas(r.err, "word-embedding table has", "tokenizer's ids go up to 999999");
  });
});

Deno.test("generate --verbose prints the measured peak GPU memory (embedded model)", async () => {
  await withTempDir(async (dir) => {
    const r = await gen([
      "--prompt",
      "a cat",
      "--steps",
      "2",
      "--verbose",
      "-q",
      "--output",
      `${dir}/a.png`,
    ]);
    assertEquals(r.code, 0, r.err);
    const measured = /peak GPU memory measured: .* \((\d+) bytes\)/.exec(r.err);
    const planned = /peak GPU memory planned: .* \((\d+) bytes; budget 8\.00 GiB\)/.exec(r.err);
    assert(measured && planned, r.err);
    // The plan ran the same code shape-only: the buffer pool's peak, to the byte.
    const m = Number(measured[1]), p = Number(planned[1]);
    assert(m > 1e6, r.err);
    assertEquals(p, m, r.err);
  });
});
