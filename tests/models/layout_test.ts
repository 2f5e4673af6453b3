/**
 * The weight-tree declarations (qwen3_layout.ts, vae_layout.ts) against what
 * the writers derived from them produce: every declared tensor is in the
 * tiny and the random checkpoint, with the declared shape; and the DiT's
 * (dit_layout.ts) against what its loader fills.
 */
import { textEncoderTensors, vaeTensors } from "../../src/checkpoint/layout.ts";
import { SMALL_DIMS } from "../../src/checkpoint/dims.ts";
import { qwen3LayerLayout } from "../../src/models/qwen3_layout.ts";
import { parseVaeConfig } from "../../src/models/vae_config.ts";
import { vaeDecoderLayout, vaeLayoutEntries } from "../../src/models/vae_layout.ts";
import { TINY_QWEN3, tinyQwen3Tensors } from "../../src/tiny/qwen3.ts";
import { tinyVaeConfig, tinyVaeTensors } from "../../src/tiny/vae.ts";
import type { HostLinear } from "../../src/formats/mod.ts";
import { Checkpoint } from "../../src/io/checkpoint.ts";
import {
  DIT_TEXT_FIELDS,
  ditGlobalsLayout,
  ditLayerLayout,
  type DiTTreeEntry,
} from "../../src/models/dit_layout.ts";
import { type HostAffine, loadDiTHostWeights } from "../../src/models/dit_weights.ts";
import { assert, assertEquals } from "../assert.ts";
import { readPlatform } from "../io/io_util.ts";
import { tinyDitConfig, withTinyDit } from "./tiny_dit.ts";

/** name → shape of every declared tensor of one Qwen3 layer. */
function qwen3Declared(d: Parameters<typeof qwen3LayerLayout>[0], prefix: string) {
  const out = new Map<string, number[]>();
  for (const e of qwen3LayerLayout(d)) {
    out.set(`${prefix}${e.module}.weight`, e.kind === "linear" ? [e.out, e.in] : [e.n]);
  }
  return out;
}

Deno.test("Qwen3 layer declaration: tiny and random writers hold every tensor, shaped as declared", () => {
  const tiny = tinyQwen3Tensors({ format: "f32" });
  const random = textEncoderTensors("fp8", SMALL_DIMS.qwen3);
  const p = "model.language_model.layers.";
  for (const i of [0, TINY_QWEN3.layers - 1]) {
    const want = qwen3Declared(TINY_QWEN3, `${p}${i}.`);
    assertEquals(want.size, 11);
    for (const [name, shape] of want) assertEquals(tiny[name]?.shape, shape, name);
  }
  for (const [name, shape] of qwen3Declared(SMALL_DIMS.qwen3, `${p}0.`)) {
    assertEquals(random.get(name)?.shape, shape, name);
  }
});

Deno.test("VAE declaration: tiny and random writers hold every decoder tensor, shaped as declared", () => {
  const tinyConfig = parseVaeConfig(JSON.stringify(tinyVaeConfig()), "tiny");
  const tiny = tinyVaeTensors(), random = vaeTensors(SMALL_DIMS.vae);
  for (
    const [c, shapeOf] of [
      [tinyConfig, (n: string) => tiny[n]?.shape],
      [SMALL_DIMS.vae, (n: string) => random.get(n)?.shape],
    ] as const
  ) {
    const entries = vaeLayoutEntries(vaeDecoderLayout(c));
    assert(entries.some((e) => e.kind === "projection") === c.midBlockAttention);
    for (const e of entries) {
      const w = e.kind === "conv"
        ? [e.cout, e.cin, e.k, e.k]
        : e.kind === "norm"
        ? [e.c]
        : [e.c, e.c];
      const b = e.kind === "conv" ? [e.cout] : [e.c];
      assertEquals(shapeOf(`${e.name}.weight`), w, `${e.name}.weight`);
      assertEquals(shapeOf(`${e.name}.bias`), b, `${e.name}.bias`);
    }
  }
});

Deno.test("DiT declaration: the loader fills every field of the tree with its kind and shape", async () => {
  const config = tinyDitConfig();
  for (const text of [true, false]) {
    await withTinyDit({ format: "nf4", prefix: "model." }, async (dir) => {
      const ckpt = await Checkpoint.open(dir, {
        stem: "diffusion_pytorch_model",
        platform: readPlatform,
      });
      try {
        const w = await loadDiTHostWeights(ckpt, config, { text });
        const check = (tree: DiTTreeEntry[], got: Record<string, unknown>, where: string) => {
          const want = tree.filter((x) => text || !DIT_TEXT_FIELDS.includes(x.field as never));
          for (const x of want) {
            const v = got[x.field], at = `${where} ${x.field}`;
            if (x.kind === "linear") {
              const lin = (x.bias ? (v as HostAffine).w : v) as HostLinear;
              assertEquals([lin.out, lin.in], [x.out, x.in], at);
              if (x.bias) assertEquals((v as HostAffine).bias.length, x.out, at);
              else assert(!("bias" in (v as object)), `${at}: no bias`);
            } else {
              const n = x.kind === "norm" ? x.n : x.shape[0] * x.shape[1];
              assert(v instanceof Float32Array && v.length === n, at);
            }
          }
          const extra = Object.keys(got).filter((k) => !want.some((x) => x.field === k));
          assertEquals(extra, [], `${where}: fields the tree does not declare`);
        };
        const { config: _c, prefix, layers, ...globals } = w;
        assertEquals(prefix, "model.");
        check(ditGlobalsLayout(config), globals, "globals");
        assertEquals(layers.length, config.numLayers);
        for (const [i, layer] of layers.entries()) {
          check(ditLayerLayout(config), { ...layer }, `layer ${i}`);
        }
      } finally {
        ckpt.close();
      }
    });
  }
});
