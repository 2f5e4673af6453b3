/**
 * The weight-tree declarations (qwen3_layout.ts, vae_layout.ts) against what
 * the writers derived from them produce: every declared tensor is in the
 * tiny and the random checkpoint, with the declared shape.
 */
import { textEncoderTensors, vaeTensors } from "../../src/checkpoint/layout.ts";
import { SMALL_DIMS } from "../../src/checkpoint/dims.ts";
import { qwen3LayerLayout } from "../../src/models/qwen3_layout.ts";
import { parseVaeConfig } from "../../src/models/vae_config.ts";
import { vaeDecoderLayout, vaeLayoutEntries } from "../../src/models/vae_layout.ts";
import { TINY_QWEN3, tinyQwen3Tensors } from "../../src/tiny/qwen3.ts";
import { tinyVaeConfig, tinyVaeTensors } from "../../src/tiny/vae.ts";
import { assert, assertEquals } from "../assert.ts";

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
