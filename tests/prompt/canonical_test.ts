import { assert, assertEquals } from "../assert.ts";
import { canonicalizeCaption, pythonFloat, serializeCaption } from "../../src/prompt/canonical.ts";
import { fromPlain, JsonSyntaxError, parseJson, toPlain } from "../../src/prompt/json.ts";
import { verifyCaption } from "../../src/prompt/verify.ts";
import { DESIGN_CAPTION, EXAMPLES, PHOTO_CAPTION, text, UNICODE_CAPTION } from "./examples.ts";

Deno.test("json parser: keeps key order as written, integer-like keys included", () => {
  const { value } = parseJson('{"b": 1, "2": 2, "a": [true, null, -1.5e2, "x"], "1": {}}');
  assert(value instanceof Map);
  assertEquals([...value.keys()], ["b", "2", "a", "1"]);
  assertEquals(value.get("a"), [true, null, -150, "x"]);
  // A plain object would have moved "1" and "2" to the front.
  assertEquals(Object.keys(toPlain(value) as object), ["1", "2", "b", "a"]);
});

Deno.test("json parser: escapes decode, surrogate pairs survive, and errors have positions", () => {
  const { value, nonAsciiEscapes, hasLiteralNonAscii } = parseJson(
    '"\\u00e9\\n\\ud83d\\ude00\\/\\"é"',
  );
  assertEquals(value, 'é\n😀/"é');
  assertEquals([nonAsciiEscapes, hasLiteralNonAscii], [["\\u00e9", "\\ud83d", "\\ude00"], true]);
  const bad: [string, number, number, string][] = [
    ["", 1, 1, "expected a value, found end of input"],
    ['{"a" 1}', 1, 6, "expected ':' after the key \"a\""],
    ["[1 2]", 1, 4, "expected ',' or ']'"],
    ['{\n"a": 01}', 2, 6, "invalid number"],
    ['"tab\there"', 1, 5, "control character U+0009"],
    ['"\\x"', 1, 2, "invalid escape '\\x'"],
    ['"\\u12"', 1, 2, "4 hex digits"],
    ["{'a': 1}", 1, 2, "double quotes"],
    ["\n\n  [1,]", 3, 6, "trailing comma before ']'"],
    ['"open', 1, 1, "unterminated string"],
    ["nul", 1, 1, "expected a value"],
  ];
  for (const [src, line, column, part] of bad) {
    try {
      parseJson(src);
      throw new Error(`${JSON.stringify(src)} parsed`);
    } catch (e) {
      assert(e instanceof JsonSyntaxError, `${JSON.stringify(src)}: ${e}`);
      assertEquals([e.line, e.column], [line, column], JSON.stringify(src));
      assert(e.message.includes(part), `${JSON.stringify(src)}: ${e.message}`);
    }
  }
  let deep = "";
  try {
    parseJson("[".repeat(300) + "]".repeat(300));
  } catch (e) {
    deep = (e as Error).message;
  }
  assert(deep.includes("nesting deeper than 256"), `depth limit: ${deep}`);
  assertEquals(parseJson("[".repeat(200) + "]".repeat(200)).value instanceof Array, true);
});

Deno.test("canonical form: minified, non-ASCII literal, identical to JSON.stringify for canonical input", () => {
  for (const [name, caption] of Object.entries(EXAMPLES)) {
    assertEquals(serializeCaption(caption), text(caption), name);
    assertEquals(canonicalizeCaption(JSON.stringify(caption, null, 4)), text(caption), name);
  }
  const out = serializeCaption(UNICODE_CAPTION);
  assert(out.includes("朝のカフェ") && out.includes("Crème") && out.includes("\\n"), out);
  assert(!out.includes("\\u"), "no escapes for non-ASCII");
  // Escaped input comes out literal; control characters stay escaped.
  assertEquals(canonicalizeCaption('{"x":"caf\\u00e9\\u0007"}'), '{"x":"café\\u0007"}');
});

Deno.test("canonical form: keys re-ordered per object, unknown keys kept after known ones", () => {
  const scrambled = '{"extra":{"z":1,"a":2},"compositional_deconstruction":{"elements":[' +
    '{"note":"n","desc":"d","color_palette":["#000000"],"bbox":[1,2,3,4],"type":"obj"},' +
    '{"desc":"d2","text":"T","type":"text"},"not-an-object"],"background":"b"},' +
    '"style_description":{"medium":"m","art_style":"s","zz":0,"lighting":"l","aesthetics":"a"},' +
    '"high_level_description":"h"}';
  assertEquals(
    canonicalizeCaption(scrambled),
    '{"high_level_description":"h",' +
      '"style_description":{"aesthetics":"a","lighting":"l","medium":"m","art_style":"s","zz":0},' +
      '"compositional_deconstruction":{"background":"b","elements":[' +
      '{"type":"obj","bbox":[1,2,3,4],"desc":"d","color_palette":["#000000"],"note":"n"},' +
      '{"type":"text","text":"T","desc":"d2"},"not-an-object"]},' +
      '"extra":{"z":1,"a":2}}',
  );
  // Photo order: photo before medium.
  const photo =
    '{"style_description":{"photo":"p","medium":"photograph","lighting":"l","aesthetics":"a"}}';
  assertEquals(
    canonicalizeCaption(photo),
    '{"style_description":{"aesthetics":"a","lighting":"l","photo":"p","medium":"photograph"}}',
  );
  // Re-ordering fixes key-order issues, and nothing else changes (the top level's
  // order is free to the verifier, as upstream's, but canonical all the same).
  const knownOnly = scrambled.replace('"extra":{"z":1,"a":2},', "").replace('"note":"n",', "")
    .replace(',"zz":0', "").replace(',"not-an-object"', "");
  assertEquals(verifyCaption(knownOnly).map((i) => i.rule), [
    "key-order",
    "key-order",
    "key-order",
    "key-order",
  ]);
  assertEquals(verifyCaption(canonicalizeCaption(knownOnly)), []);
});

Deno.test("canonical form: pretty printing keeps the canonical order", () => {
  const pretty = serializeCaption(DESIGN_CAPTION, { indent: 2 });
  const palette = JSON.stringify(DESIGN_CAPTION.style_description.color_palette).replaceAll(
    ",",
    ", ",
  );
  assertEquals(
    pretty,
    JSON.stringify(DESIGN_CAPTION, null, 2).replace(
      /\[\n +"#1D3557",\n +"#F1FAEE",\n +"#E63946"\n +\]/,
      palette,
    ),
  );
  assert(pretty.includes('"color_palette": ["#1D3557", "#F1FAEE", "#E63946"]'), pretty);
  assertEquals(JSON.parse(pretty), DESIGN_CAPTION);
  assertEquals(
    serializeCaption({ a: [1, [2, 3], { b: [] }] }, { indent: 1 }),
    '{\n "a": [\n  1,\n  [2, 3],\n  {\n   "b": []\n  }\n ]\n}',
  );
  assertEquals(
    serializeCaption({ compositional_deconstruction: { background: "b", elements: [] } }, {
      indent: 2,
    }),
    '{\n  "compositional_deconstruction": {\n    "background": "b",\n    "elements": []\n  }\n}',
  );
});

Deno.test("canonical form: typed objects, Maps and undefined fields", () => {
  const withUndefined = { ...PHOTO_CAPTION, high_level_description: undefined };
  const expected = text({
    style_description: PHOTO_CAPTION.style_description,
    compositional_deconstruction: PHOTO_CAPTION.compositional_deconstruction,
  });
  assertEquals(serializeCaption(withUndefined), expected);
  assertEquals(serializeCaption(fromPlain(PHOTO_CAPTION)), text(PHOTO_CAPTION));
  let threw = false;
  try {
    serializeCaption({
      compositional_deconstruction: { background: "b", elements: [{ bbox: [NaN] }] },
    });
  } catch (e) {
    threw = (e as Error).message.includes("compositional_deconstruction.elements[0].bbox[0]: NaN");
  }
  assert(threw, "NaN is refused with its path");
});

Deno.test("canonical form: numbers are written back as Python writes them", () => {
  // Floats stay floats (1.0, not 1), so the verifier still refuses them in a bbox; NaN and
  // Infinity as Python's json module writes them; -0 written as an integer is 0.
  const src = '{"compositional_deconstruction":{"background":"b","elements":[' +
    '{"type":"obj","bbox":[1.0,1e2,-0,5],"desc":NaN,"color_palette":[-Infinity,2.5e-7,1e16]}]}}';
  const out = canonicalizeCaption(src);
  assertEquals(
    out,
    '{"compositional_deconstruction":{"background":"b","elements":[' +
      '{"type":"obj","bbox":[1.0,100.0,0,5],"desc":NaN,"color_palette":[-Infinity,2.5e-07,1e+16]}]}}',
  );
  assertEquals(verifyCaption(out).filter((i) => i.rule === "bbox-int").map((i) => i.path), [
    "compositional_deconstruction.elements[0].bbox[0]",
    "compositional_deconstruction.elements[0].bbox[1]",
  ]);
  for (
    const [v, py] of [
      [0.0001, "0.0001"],
      [0.00001, "1e-05"],
      [1e15, "1000000000000000.0"],
      [123.456, "123.456"],
      [-0, "-0.0"],
      [1.7976931348623157e308, "1.7976931348623157e+308"],
    ] as const
  ) {
    assertEquals(pythonFloat(v), py);
  }
});
