/**
 * Regex translation (Oniguruma → JS) and the pre-tokenizer steps. Expected
 * splits were checked with Hugging Face `tokenizers` 0.23 (`Split`,
 * `ByteLevel`, `Digits` and Qwen3's own pre-tokenizer).
 */
import { assert, assertEquals, assertThrows } from "../assert.ts";
import { translateRegex, translateRegexSource } from "../../src/text/regex.ts";
import { buildPreTokenizer, splitBy } from "../../src/text/pre_tokenizer.ts";
import { QWEN3_JSON } from "./fixtures.ts";

Deno.test("regex: (?i:…) is expanded letter by letter, Unicode folds included", () => {
  assertEquals(translateRegexSource("(?i:'s|'re)|x"), "(?:'[sSſ]|'[rR][eE])|x");
  const re = translateRegex("^(?i:'s|'k)$");
  for (const s of ["'s", "'S", "'ſ", "'k", "'K", "'\u212a"]) {
    re.lastIndex = 0;
    assert(re.test(s), `${s} should match`);
  }
  for (const s of ["'x", "'ss", "s"]) {
    re.lastIndex = 0;
    assert(!re.test(s), `${s} should not match`);
  }
  // Case-insensitivity ends with its group.
  const scoped = translateRegex("^(?i:a)b$");
  assert(scoped.test("Ab"));
  scoped.lastIndex = 0;
  assert(!scoped.test("AB"), "b outside the group must stay case-sensitive");
});

Deno.test("regex: \\s, \\d and \\w take Oniguruma's Unicode meaning", () => {
  const space = translateRegex("^\\s$");
  const test = (re: RegExp, s: string) => {
    re.lastIndex = 0;
    return re.test(s);
  };
  for (const s of [" ", "\t", "\n", "\u0085", "\u00a0", "\u2028", "\u3000"]) {
    assert(test(space, s), `U+${s.codePointAt(0)!.toString(16)} is whitespace`);
  }
  assert(!test(space, "\ufeff"), "U+FEFF is not whitespace in Oniguruma");
  assert(!test(translateRegex("^[^\\s]$"), "\u0085"), "negated class with \\s");
  assert(test(translateRegex("^\\d$"), "٣"), "\\d is Unicode Nd");
  assert(test(translateRegex("^\\w+$"), "é_9"), "\\w is Unicode");
  assert(test(translateRegex("^\\'\\#$"), "'#"), "escaped punctuation is literal");
  assert(test(translateRegex("^\\x{41}$"), "A"), "\\x{…}");
});

Deno.test("regex: constructs JS lacks are errors that quote the pattern", () => {
  assertThrows(() => translateRegex("a++"), '"a++"', "possessive");
  assertThrows(() => translateRegex("(?>ab)"), "group syntax");
  assertThrows(() => translateRegex("(?i)ab"), "group syntax");
  assertThrows(() => translateRegex("[a[b]]"), "nested character class");
  assertThrows(() => translateRegex("(?i:[a-z])"), "case-insensitive class");
  assertThrows(() => translateRegex("(ab"), "unclosed group");
  assertThrows(() => translateRegex("\\q"), "escape \\q");
});

Deno.test("pre_tokenizer: Qwen3's split", () => {
  const pre = buildPreTokenizer((QWEN3_JSON as { pre_tokenizer: unknown }).pre_tokenizer);
  assert(pre.byteLevel);
  assertEquals(pre.split("I'm DON'T 123\n\n\n  x"), [
    "I",
    "'m",
    " DON",
    "'T",
    " ",
    "1",
    "2",
    "3",
    "\n\n\n",
    " ",
    " x",
  ]);
  assertEquals(pre.split(""), []);
});

Deno.test("pre_tokenizer: Split behaviours, with and without invert", () => {
  const dash = /-/gu;
  const text = "the-final--countdown-";
  const cases: [Parameters<typeof splitBy>[2], boolean, string[]][] = [
    ["Removed", false, ["the", "final", "countdown"]],
    ["Removed", true, ["-", "-", "-", "-"]],
    ["Isolated", false, ["the", "-", "final", "-", "-", "countdown", "-"]],
    ["MergedWithPrevious", false, ["the-", "final-", "-", "countdown-"]],
    ["MergedWithPrevious", true, ["the", "-final", "-", "-countdown", "-"]],
    ["MergedWithNext", false, ["the", "-final", "-", "-countdown", "-"]],
    ["MergedWithNext", true, ["the-", "final-", "-", "countdown-"]],
    ["Contiguous", false, ["the", "-", "final", "--", "countdown", "-"]],
    ["Contiguous", true, ["the", "-", "final", "--", "countdown", "-"]],
  ];
  for (const [behavior, invert, expected] of cases) {
    assertEquals(splitBy(dash, text, behavior, invert), expected, `${behavior} invert=${invert}`);
  }
});

Deno.test("pre_tokenizer: ByteLevel with GPT-2's regex and prefix space, Digits, literal Split", () => {
  const bl = buildPreTokenizer({ type: "ByteLevel", add_prefix_space: true, use_regex: true });
  assertEquals(bl.split("hello  world"), [" hello", " ", " world"]);
  const digits = buildPreTokenizer({
    type: "Sequence",
    pretokenizers: [{ type: "Digits", individual_digits: false }, {
      type: "ByteLevel",
      use_regex: false,
    }],
  });
  assertEquals(digits.split("ab123c4"), ["ab", "123", "c", "4"]);
  const literal = buildPreTokenizer({
    type: "Split",
    pattern: { String: "a.b" },
    behavior: "Removed",
  });
  assertEquals(literal.split("xa.bya_b"), ["x", "ya_b"]);
  assert(!literal.byteLevel);
});

Deno.test("pre_tokenizer: unsupported configurations are named", () => {
  assertThrows(() => buildPreTokenizer({ type: "Whitespace" }), "pre_tokenizer", "Whitespace");
  assertThrows(
    () => buildPreTokenizer({ type: "Sequence", pretokenizers: [{ type: "Metaspace" }] }),
    "pre_tokenizer.pretokenizers[0]",
    "Metaspace",
  );
  assertThrows(
    () => buildPreTokenizer({ type: "Split", pattern: { Regex: "a++" }, behavior: "Isolated" }),
    "pre_tokenizer.pattern.Regex",
    "possessive",
  );
  assertThrows(
    () => buildPreTokenizer({ type: "Split", pattern: { Regex: "a" }, behavior: "Sideways" }),
    "behavior",
  );
});
