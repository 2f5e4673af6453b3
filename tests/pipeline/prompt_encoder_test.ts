/**
 * `PromptEncoder` (the library's prompt → ids → features API) on the embedded
 * tiny model against the tokenizer and the CPU reference encoder.
 */
import { assert, assertEquals } from "../assert.ts";
import { readPlatform } from "../io/io_util.ts";
import { relErr, testGpu } from "../util.ts";
import { Checkpoint } from "../../src/io/checkpoint.ts";
import { parseQwen3Config } from "../../src/models/qwen3_config.ts";
import { qwen3EncodeRef } from "../../src/models/qwen3_encoder_ref.ts";
import { loadQwen3HostWeights } from "../../src/models/qwen3_weights.ts";
import { ensureEmbeddedModel } from "../../src/platform/deno/embedded_model.ts";
import { PromptEncoder } from "../../src/pipeline/prompt_encoder.ts";
import { PromptTooLongError } from "../../src/text/tokenizer.ts";

const TINY = await ensureEmbeddedModel();

Deno.test("PromptEncoder: chat-templated ids and 13-tap features equal the CPU reference", async () => {
  const ctx = await testGpu();
  const enc = await PromptEncoder.load(ctx, TINY, { platform: readPlatform });
  try {
    const prompt = "Ein Leuchtturm — 灯台 🌅";
    const { ids, text, features } = enc.encode(prompt);
    assertEquals(text, `<|im_start|>user\n${prompt}<|im_end|>\n<|im_start|>assistant\n`);
    // Qwen3's tokenizer: the ids are those of the templated text, specials included.
    assertEquals([...ids], enc.tokenizer.encode(text));
    assertEquals([ids[0], ids[ids.length - 3]], [151644, 151644]); // <|im_start|>
    assertEquals(features.shape, [ids.length, 13 * 64]);
    const got = await features.toF32();
    features.release();
    const ckpt = await Checkpoint.open(`${TINY}/text_encoder`, { platform: readPlatform });
    const config = parseQwen3Config(
      await Deno.readTextFile(`${TINY}/text_encoder/config.json`),
      "config.json",
    );
    const ref = qwen3EncodeRef(await loadQwen3HostWeights(ckpt, config), ids);
    ckpt.close();
    const e = relErr(got, ref.features);
    console.log(`  ${ids.length} tokens, features vs CPU ${e.toExponential(2)}`);
    assert(e <= 1e-4, `features: ${e}`);

    let err: unknown;
    try {
      enc.encode("x ".repeat(2100));
    } catch (e) {
      err = e;
    }
    assert(err instanceof PromptTooLongError, String(err));
    assert(err.message.includes("2048"), err.message);
  } finally {
    enc.release();
  }
});
