/**
 * The checkpoint check on real-size sparse checkpoints (every tensor of the
 * released architecture, data left as file holes): sound nf4 and fp8
 * checkpoints pass, at almost no disk cost, and the memory planner measures
 * their weights (run shape-only) at the bytes the released layout implies; broken ones report each problem naming the
 * file and the tensor; the embedded model passes.
 */
import { assert, assertEquals, assertRejects } from "../assert.ts";
import {
  apparentSize,
  diskUsage,
  type SparseTensors,
  withSparseDir,
  writeSparseCheckpoint,
} from "./sparse_checkpoint.ts";
import { ensureEmbeddedModel } from "../../src/platform/deno/embedded_model.ts";
import { memorySource } from "../../src/io/byte_source.ts";
import { loadHostLinear } from "../../src/io/linear_loader.ts";
import { denseTensor, quantizeNf4 } from "../../src/io/quantize.ts";
import { SafetensorsFile } from "../../src/io/safetensors.ts";
import { writeSafetensors } from "../../src/io/safetensors_writer.ts";
import {
  checkCheckpoint,
  checkDiT,
  checkTextEncoder,
  checkVae,
  MAX_PROBLEMS_PER_COMPONENT,
  ShapeOnlyStore,
} from "../../src/pipeline/checkpoint_check.ts";
import { GIB, planMemory } from "../../src/pipeline/memory_plan.ts";
import { setPlatform } from "../../src/platform/mod.ts";
import { denoPlatform } from "../../src/platform/deno.ts";
import { randn } from "../util.ts";

setPlatform(denoPlatform());

const TINY = await ensureEmbeddedModel();

Deno.test("ShapeOnlyStore: shapes from the header, zeros for data, nf4 quant states read", async () => {
  const values = randn(4 * 64, 11);
  const bytes = writeSafetensors({
    "dense.weight": denseTensor(values.subarray(0, 12), [3, 4], "F32"),
    ...quantizeNf4("q.weight", values, [4, 64]),
  });
  const file = await SafetensorsFile.open(memorySource("mem.safetensors", bytes));
  const store = new ShapeOnlyStore(file);
  const dense = await store.bytes("dense.weight");
  assertEquals(dense.byteLength, 48);
  assert(dense.every((b) => b === 0), "dense data must not be read");
  assert((await file.bytes("dense.weight")).some((b) => b !== 0), "the file itself has data");
  const state = "q.weight.quant_state.bitsandbytes__nf4";
  assertEquals([...await store.bytes(state)], [...await file.bytes(state)]);
  assertEquals([...await store.f32("q.weight.absmax")], [0, 0, 0, 0]);
  // The loader's checks run through it: format and shape from the quant state.
  const w = await loadHostLinear(store, "q.weight", [4, 64]);
  assertEquals([w.format, w.out, w.in], ["nf4", 4, 64]);
  await assertRejects(() => store.f32("q.weight"), "mem.safetensors", "'q.weight' is U8");
  await assertRejects(() => store.bytes("nothing"), "no tensor 'nothing'");
  await assertRejects(() => loadHostLinear(store, "q.weight", [4, 63]), "expected [4, 63]");
  store.close();
});

Deno.test("check: real-size sparse nf4 and fp8 checkpoints pass, at almost no disk", async (t) => {
  for (const format of ["nf4", "fp8"] as const) {
    await t.step(format, async () => {
      await withSparseDir(async (dir) => {
        await writeSparseCheckpoint(dir, { format, tokenizerFrom: TINY });
        const used = await diskUsage(dir), apparent = await apparentSize(dir);
        // Apparent 16.6 GB (nf4) / 28.1 GB (fp8); on disk the headers, a few KB of quant
        // states and the copied 11 MB tokenizer.
        assert(apparent > 15e9, `apparent size ${apparent}`);
        assert(used < 48 * 2 ** 20, `du says ${used} bytes`);
        const check = await checkCheckpoint(dir, { prompt: "a red fox in the snow" });
        assertEquals(check.problems, []);
        assert(check.promptTokens! > 5 && check.promptTokens! < 30, `${check.promptTokens}`);
        // The weights as the real uploads place them (run shape-only), against the layout
        // worked out by hand: nf4 [out, in] = out·in/2 bytes + an f32 table of 16 codes
        // and one absmax per 64 values, in 4-byte buffers; fp8 out·in bytes + f32 row
        // scales; the DiT's qkv in 3 row bands and AdaLN in 4, each with its own table.
        const plan = await planMemory(dir, {
          width: 256,
          height: 256,
          textTokens: 16,
          budgetBytes: 64 * GIB,
        });
        const c = plan.components;
        const want = format === "nf4"
          ? { te: 3908226816, cond: 5224251712, uncond: 5086001408 }
          : { te: 6952587264, cond: 9292399616, uncond: 9046782976 };
        assertEquals(c.textEncoder.gpuBytes, want.te);
        assertEquals(c.textEncoder.hostBytes, 151936 * 4096 * 2);
        assertEquals(c.cond.gpuBytes, want.cond);
        assertEquals(c.uncond.gpuBytes, want.uncond);
        // The VAE's conv weights are stored with channels padded to multiples of 4
        // (conv2d.ts): conv_out's 3 output channels take 4, + 128·9·4 bytes.
        assertEquals(c.vae.gpuBytes, 198481036 + 128 * 9 * 4);
        assertEquals([c.cond.blocks, c.uncond.blocks], [34, 34]);
        const gpuFormat = format === "nf4" ? "nf4_bf16" : "fp8_bf16";
        for (const f of [c.cond.formats, c.uncond.formats, c.textEncoder.formats]) {
          assertEquals(f, [gpuFormat]);
        }
      });
    });
  }
});

/** Replaces a tensor's header entry (same name), keeping nothing of the old one. */
function retype(t: SparseTensors, name: string, dtype: "I32" | "F8_E4M3", shape?: number[]) {
  const old = t.get(name);
  assert(old, `no tensor ${name} to edit`);
  t.set(name, { dtype, shape: shape ?? old.shape });
}

Deno.test("check: a broken DiT names the file and tensor of every bad block", async () => {
  await withSparseDir(async (dir) => {
    await writeSparseCheckpoint(dir, {
      format: "nf4",
      components: ["unconditional_transformer"],
      edit: (_, t) => {
        t.set("layers.7.ffn_norm1.weight", { dtype: "BF16", shape: [4607] });
        retype(t, "layers.3.attention.norm_q.weight", "I32");
        t.delete("layers.20.feed_forward.w3.weight");
        const state = new TextEncoder().encode(
          JSON.stringify({ quant_type: "nf4", blocksize: 64, shape: [4608, 4607] }),
        );
        t.set("layers.9.attention.o.weight.quant_state.bitsandbytes__nf4", {
          dtype: "U8",
          shape: [state.length],
          data: state,
        });
      },
    });
    const folder = `${dir}/unconditional_transformer`;
    const file = `${folder}/diffusion_pytorch_model.safetensors`;
    const check = await checkDiT(folder, false, denoPlatform());
    assertEquals(check.problems.length, 4, check.problems.join("\n"));
    const [dtype, shape, quantState, missing] = check.problems;
    for (
      const [msg, parts] of [
        [dtype, [file, "'layers.3.attention.norm_q.weight'", "I32"]],
        [shape, [file, "'layers.7.ffn_norm1.weight'", "[4607]", "expected [4608]"]],
        [quantState, [file, "'layers.9.attention.o.weight'", "[4608, 4607]", "[4608, 4608]"]],
        [missing, [folder, "no tensor 'layers.20.feed_forward.w3.weight'"]],
      ] as const
    ) {
      for (const part of parts) assert(msg.includes(part), `"${msg}" lacks "${part}"`);
    }
  });
});

Deno.test("check: broken text encoder and VAE tensors are named with their files", async () => {
  await withSparseDir(async (dir) => {
    const up = "model.language_model.layers.20.mlp.up_proj.weight";
    await writeSparseCheckpoint(dir, {
      format: "fp8",
      components: ["text_encoder", "vae"],
      edit: (component, t) => {
        if (component === "text_encoder") t.delete(`${up}_scale`);
        else t.delete("decoder.up_blocks.2.resnets.0.conv_shortcut.weight");
      },
    });
    const te = await checkTextEncoder(`${dir}/text_encoder`, denoPlatform());
    assertEquals(te.problems.length, 1);
    assert(
      /model-0000[12]-of-00002\.safetensors: weight '.*up_proj\.weight' is missing its tensor '.*up_proj\.weight_scale'/
        .test(te.problems[0]),
      te.problems[0],
    );
    const vae = await checkVae(`${dir}/vae`, denoPlatform());
    assertEquals(vae.problems.length, 1);
    for (
      const part of [
        `${dir}/vae has no tensor`, // a missing tensor is named with the folder lacking it
        "no tensor 'decoder.up_blocks.2.resnets.0.conv_shortcut.weight'",
      ]
    ) assert(vae.problems[0].includes(part), `"${vae.problems[0]}" lacks "${part}"`);
  });
});

Deno.test("check: the same problem in every block is listed a few times, then counted", async () => {
  await withSparseDir(async (dir) => {
    await writeSparseCheckpoint(dir, {
      format: "fp8",
      components: ["transformer"],
      edit: (_, t) => {
        for (let i = 0; i < 34; i++) retype(t, `layers.${i}.ffn_norm2.weight`, "F8_E4M3");
      },
    });
    const { problems } = await checkDiT(`${dir}/transformer`, true, denoPlatform());
    assertEquals(problems.length, MAX_PROBLEMS_PER_COMPONENT + 1);
    assert(problems[0].includes("'layers.0.ffn_norm2.weight' is F8_E4M3"), problems[0]);
    assert(problems[MAX_PROBLEMS_PER_COMPONENT].endsWith("… and 26 more problems like these"));
  });
});

Deno.test("check: missing component folders are listed; nothing else is guessed", async () => {
  await withSparseDir(async (dir) => {
    await writeSparseCheckpoint(dir, { format: "nf4", components: ["vae"] });
    const check = await checkCheckpoint(dir);
    assertEquals(check.problems, [
      `${dir}: missing tokenizer/tokenizer.json (not an Ideogram 4 checkpoint folder?)`,
      `${dir}: missing text_encoder/config.json (not an Ideogram 4 checkpoint folder?)`,
      `${dir}: missing text_encoder/*.safetensors (not an Ideogram 4 checkpoint folder?)`,
      `${dir}: missing transformer/*.safetensors (not an Ideogram 4 checkpoint folder?)`,
      `${dir}: missing unconditional_transformer/*.safetensors (not an Ideogram 4 checkpoint folder?)`,
    ]);
  });
});

Deno.test("check: the embedded tiny model passes", async () => {
  const check = await checkCheckpoint(TINY, { prompt: "a cat" });
  assertEquals(check.problems, []);
  assert(check.promptTokens! > 0);
  const cond = await checkDiT(`${TINY}/transformer`, true, denoPlatform());
  assertEquals([cond.problems, cond.config?.numLayers], [[], 3]);
});
