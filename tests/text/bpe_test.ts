/**
 * BPE merging, added tokens and format errors on tiny hand-made byte-level
 * tokenizers, where the expected ids can be worked out by hand.
 */
import { assertEquals, assertThrows } from "../assert.ts";
import { BYTE_TO_CHAR } from "../../src/text/byte_level.ts";
import { Qwen3Tokenizer } from "../../src/text/tokenizer.ts";

interface TinyOptions {
  merges: [string, string][];
  /** Extra whole-word vocabulary entries (not produced by any merge). */
  extra?: string[];
  added?: Record<string, unknown>[];
  normalizer?: unknown;
  ignoreMerges?: boolean;
  mergesAsStrings?: boolean;
}

/** A byte-level tokenizer.json: ids 0-255 are the bytes, merged tokens follow in merge order. */
function tiny(o: TinyOptions): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  BYTE_TO_CHAR.forEach((c, b) => vocab[c] = b);
  let next = 256;
  for (const [a, b] of o.merges) if (!(a + b in vocab)) vocab[a + b] = next++;
  for (const w of o.extra ?? []) vocab[w] = next++;
  return {
    model: {
      type: "BPE",
      vocab,
      merges: o.mergesAsStrings ? o.merges.map(([a, b]) => `${a} ${b}`) : o.merges,
      ignore_merges: o.ignoreMerges ?? false,
    },
    normalizer: o.normalizer ?? null,
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, use_regex: true },
    decoder: { type: "ByteLevel" },
    added_tokens: o.added ?? [],
  };
}

const A = 97, B = 98, C = 99, SPACE = 0x20;
/** Id of the n-th merged token in {@link tiny}. */
const merged = (n: number) => 256 + n;

Deno.test("bpe: lowest rank merges first, whatever its position", () => {
  const bcFirst = Qwen3Tokenizer.fromJson(tiny({ merges: [["b", "c"], ["a", "b"]] }));
  assertEquals(bcFirst.encode("abc"), [A, merged(0)]);
  const abFirst = Qwen3Tokenizer.fromJson(tiny({ merges: [["a", "b"], ["b", "c"]] }));
  assertEquals(abFirst.encode("abc"), [merged(0), C]);
});

Deno.test("bpe: ties go to the leftmost pair; merges chain", () => {
  const aa = Qwen3Tokenizer.fromJson(tiny({ merges: [["a", "a"]] }));
  assertEquals(aa.encode("aaa"), [merged(0), A]);
  assertEquals(aa.encode("aaaa"), [merged(0), merged(0)]);
  const chain = Qwen3Tokenizer.fromJson(
    tiny({ merges: [["a", "a"], ["aa", "aa"], ["aaaa", "a"]] }),
  );
  assertEquals(chain.encode("aaaaa"), [merged(2)]);
  // Six: aa,aa,aa -> aaaa,aa; no rule joins "aaaa" and "aa" (Hugging Face gives the same).
  assertEquals(chain.encode("aaaaaa"), [merged(1), merged(0)]);
  // A long word (heap path) agrees with the same reasoning: 1250 "aaaa".
  assertEquals(chain.encode("a".repeat(5000)), new Array(1250).fill(merged(1)));
  assertEquals(chain.decode(chain.encode("a".repeat(5000))), "a".repeat(5000));
});

Deno.test("bpe: merges as strings and as pairs give the same ids", () => {
  const merges: [string, string][] = [["Ġ", "a"], ["Ġa", "b"], ["b", "c"]];
  const pairs = Qwen3Tokenizer.fromJson(tiny({ merges }));
  const strings = Qwen3Tokenizer.fromJson(tiny({ merges, mergesAsStrings: true }));
  for (const s of ["ab abc bc", " ab", "cab  ab"]) {
    assertEquals(strings.encode(s), pairs.encode(s), s);
  }
  assertEquals(pairs.encode(" ab"), [merged(1)]);
  assertEquals(pairs.encode("a bc"), [A, SPACE, merged(2)]);
});

Deno.test("bpe: ignore_merges takes a whole-word vocabulary token as is", () => {
  const o = { merges: [["a", "b"]] as [string, string][], extra: ["abc"] };
  assertEquals(Qwen3Tokenizer.fromJson(tiny(o)).encode("abc"), [merged(0), C]);
  assertEquals(Qwen3Tokenizer.fromJson(tiny({ ...o, ignoreMerges: true })).encode("abc"), [257]);
});

Deno.test("added tokens: longest match first, lstrip/rstrip, single_word", () => {
  const tok = Qwen3Tokenizer.fromJson(tiny({
    merges: [],
    added: [
      { id: 300, content: "<a>", special: true },
      { id: 301, content: "<a><b>", special: true },
      { id: 302, content: "<s>", special: true, lstrip: true, rstrip: true },
      { id: 303, content: "cat", single_word: true },
    ],
  }));
  assertEquals(tok.encode("x<a><b>y<a>"), [120, 301, 121, 300]);
  assertEquals(tok.encode("a  <s>\t b"), [A, 302, B]);
  assertEquals(tok.encode("a <a> b"), [A, SPACE, 300, SPACE, B]);
  assertEquals(tok.encode("cat cats"), [303, SPACE, C, A, 116, 115]);
  assertEquals(tok.decode(tok.encode("x<a><b>y")), "x<a><b>y");
  assertEquals(tok.decode([300, 303, 301], { skipSpecialTokens: true }), "cat");
});

Deno.test("added tokens: normalized ones match the normalised text, others the raw text", () => {
  const tok = Qwen3Tokenizer.fromJson(tiny({
    merges: [],
    normalizer: { type: "Lowercase" },
    added: [
      { id: 300, content: "<RAW>", special: true, normalized: false },
      { id: 301, content: "<Norm>", special: false, normalized: true },
    ],
  }));
  assertEquals(tok.encode("<RAW>"), [300]);
  assertEquals(
    tok.encode("<raw>").length,
    5,
    "raw tokens match case-sensitively, before lowercasing",
  );
  assertEquals(tok.encode("<NORM>"), [301]);
  assertEquals(tok.encode("<norm>"), [301]);
});

Deno.test("added tokens: split_special_tokens turns special ones into text", () => {
  const json = tiny({
    merges: [],
    added: [{ id: 300, content: "<x>", special: true }, {
      id: 301,
      content: "<y>",
      special: false,
    }],
  });
  const tok = Qwen3Tokenizer.fromJson(json, { split_special_tokens: true });
  assertEquals(tok.encode("<x><y>"), [60, 120, 62, 301]);
  // Tokens only the config lists (added_tokens_decoder) are matched too.
  const cfg = { added_tokens_decoder: { "302": { content: "<z>", special: true } } };
  assertEquals(Qwen3Tokenizer.fromJson(json, cfg).encode("<z><x>"), [302, 300]);
});

Deno.test("tokenizer.json errors name the key", () => {
  const ok = () => tiny({ merges: [["a", "b"]] });
  const withModel = (patch: Record<string, unknown>) => {
    const j = ok();
    j.model = { ...(j.model as object), ...patch };
    return j;
  };
  assertThrows(() => Qwen3Tokenizer.fromJson(null), "tokenizer.json", "JSON object");
  assertThrows(() => Qwen3Tokenizer.fromJson({}), "tokenizer.json: model");
  assertThrows(() => Qwen3Tokenizer.fromJson(withModel({ type: "WordPiece" })), "WordPiece");
  assertThrows(() => Qwen3Tokenizer.fromJson(withModel({ dropout: 0.1 })), "dropout");
  assertThrows(
    () => Qwen3Tokenizer.fromJson(withModel({ merges: [["a", "b"], ["q", "zz"]] })),
    "merges[1]",
    '"zz"',
  );
  assertThrows(() => Qwen3Tokenizer.fromJson(withModel({ merges: ["a b c"] })), "merges[0]");
  assertThrows(() => Qwen3Tokenizer.fromJson(withModel({ merges: [42] })), "merges[0]");
  const noByte = ok();
  delete (noByte.model as { vocab: Record<string, number> }).vocab["Ġ"];
  assertThrows(() => Qwen3Tokenizer.fromJson(noByte), "byte 0x20");
  assertThrows(
    () => Qwen3Tokenizer.fromJson({ ...ok(), normalizer: { type: "BertNormalizer" } }),
    "normalizer",
    "BertNormalizer",
  );
  assertThrows(
    () => Qwen3Tokenizer.fromJson({ ...ok(), pre_tokenizer: null }),
    "only byte-level BPE",
  );
  assertThrows(
    () => Qwen3Tokenizer.fromJson({ ...ok(), decoder: { type: "WordPiece" } }),
    "decoder.type",
  );
  assertThrows(
    () => Qwen3Tokenizer.fromJson({ ...ok(), added_tokens: [{ id: 98, content: "a" }] }),
    '"a"',
    "id 98",
    "97",
  );
  assertThrows(
    () => Qwen3Tokenizer.fromJson({ ...ok(), added_tokens: [{ id: 300 }] }),
    "added_tokens[0].content",
  );
  assertThrows(
    () =>
      Qwen3Tokenizer.fromJson(ok(), {
        chat_template: [{ name: "a", template: "x" }, { name: "b", template: "y" }],
      }),
    'none named "default"',
  );
});
