import { assert, assertEquals } from "../assert.ts";
import {
  type CaptionIssue,
  type CaptionRule,
  formatIssue,
  isJsonCaption,
  verifyCaption,
} from "../../src/prompt/verify.ts";
import {
  copy,
  DESIGN_CAPTION,
  EXAMPLES,
  MINIMAL_CAPTION,
  PHOTO_CAPTION,
  text,
  UNICODE_CAPTION,
} from "./examples.ts";

// deno-lint-ignore no-explicit-any
type Any = any;

/** `path: message` lines of the issues of `caption` (object or raw text). */
function issuesOf(caption: unknown): string[] {
  return verifyCaption(typeof caption === "string" ? caption : text(caption)).map(formatIssue);
}

function rulesOf(caption: unknown): CaptionRule[] {
  return verifyCaption(typeof caption === "string" ? caption : text(caption)).map((i) => i.rule);
}

/** A caption with one element, for element rules. */
function withElement(el: unknown): unknown {
  return { compositional_deconstruction: { background: "b", elements: [el] } };
}

/** The raw text of a caption with one element written as `el` (duplicates, floats). */
function rawElement(el: string): string {
  return `{"compositional_deconstruction":{"background":"b","elements":[${el}]}}`;
}

/** A caption with a style description, for style rules. */
function withStyle(style: unknown): unknown {
  return {
    style_description: style,
    compositional_deconstruction: { background: "b", elements: [] },
  };
}

const ELS = "compositional_deconstruction.elements[0]";

Deno.test("verify: the example captions pass, minified and pretty-printed", () => {
  for (const [name, caption] of Object.entries(EXAMPLES)) {
    assertEquals(issuesOf(caption), [], name);
    assertEquals(issuesOf(JSON.stringify(caption, null, 2)), [], `${name} (pretty)`);
  }
});

Deno.test("verify: isJsonCaption tells JSON captions from plain text", () => {
  assert(isJsonCaption(text(PHOTO_CAPTION)));
  assert(isJsonCaption("  \n{ broken"));
  assert(isJsonCaption("\uFEFF{}"));
  assert(!isJsonCaption("a golden retriever on a skateboard"));
  assert(!isJsonCaption('"quoted"'));
});

Deno.test("verify rule json: syntax errors give line and column", () => {
  const [issue] = verifyCaption('{\n  "high_level_description": "x"\n  "style_description": {}\n}');
  assertEquals([issue.rule, issue.line, issue.column], ["json", 3, 3]);
  assert(issue.message.includes("line 3, column 3"), issue.message);
  assert(issue.message.includes("expected ',' or '}'"), issue.message);
  const trailing = verifyCaption('{"a": [1, 2,]}')[0];
  assertEquals([trailing.rule, trailing.line, trailing.column], ["json", 1, 13]);
  assert(trailing.message.includes("trailing comma"), trailing.message);
  assertEquals(
    verifyCaption("a dog on a skateboard")[0].message,
    "invalid JSON at line 1, column 1: expected a value, found 'a'",
  );
  assertEquals(rulesOf('{"compositional_deconstruction": {"background": "b", "elements": []}} x'), [
    "json",
  ]);
  assertEquals(rulesOf('{"x": "unterminated'), ["json"]);
  assertEquals(rulesOf(text(MINIMAL_CAPTION)), []);
});

Deno.test("verify: a key written twice is read as Python reads it (last value, first place)", () => {
  const dup = '{"compositional_deconstruction":{"background":"a","background":"b","elements":[]}}';
  assertEquals(issuesOf(dup), []);
  // The last value is the one checked…
  assertEquals(
    rulesOf('{"compositional_deconstruction":{"background":"a","background":2,"elements":[]}}'),
    ["type"],
  );
  // …and the key keeps the place where it was first written.
  assertEquals(rulesOf(rawElement('{"desc":"a","type":"obj","desc":"b"}')), ["key-order"]);
});

Deno.test("verify rule unicode-escape: non-ASCII only as \\u escapes", () => {
  const escaped =
    '{"high_level_description":"caf\\u00e9","compositional_deconstruction":{"background":"b","elements":[]}}';
  assertEquals(rulesOf(escaped), ["unicode-escape"]);
  assert(issuesOf(escaped)[0].includes("\\u00e9"));
  // Literal text passes; so do escapes next to literal text (then they are deliberate)
  // and escapes of ASCII.
  assertEquals(rulesOf(text(UNICODE_CAPTION)), []);
  assertEquals(rulesOf(escaped.replace("caf", "café ")), []);
  assertEquals(rulesOf(escaped.replace("\\u00e9", "\\u0041")), []);
  // The check reads the raw text, as upstream's regex does: an escaped backslash
  // followed by "u00e9" counts too.
  assertEquals(rulesOf(escaped.replace("\\u00e9", "\\\\u00e9")), ["unicode-escape"]);
});

Deno.test("verify rule type: wrong JSON types", () => {
  assertEquals(issuesOf("[1, 2]"), ["a caption is a JSON object, got a list"]);
  const c = copy(PHOTO_CAPTION) as Any;
  c.high_level_description = 7;
  assertEquals(issuesOf(c), ["high_level_description: expected a string, got the number 7"]);
  // Style values, `desc` and `text` are free: upstream checks that they exist, not their type.
  c.high_level_description = "h";
  c.style_description.lighting = ["a"];
  c.compositional_deconstruction.elements[0].desc = null;
  assertEquals(issuesOf(c), []);
  assertEquals(issuesOf(withStyle("photo")), [
    'style_description: expected an object, got the string "photo"',
  ]);
  // As upstream, a background of the wrong type ends the composition's checks.
  assertEquals(issuesOf({ compositional_deconstruction: { background: 1, elements: {} } }), [
    "compositional_deconstruction.background: expected a string, got the number 1",
  ]);
  assertEquals(issuesOf({ compositional_deconstruction: { background: "b", elements: {} } }), [
    "compositional_deconstruction.elements: expected a list, got an object",
  ]);
  assertEquals(issuesOf(withElement("a dog")), [
    `${ELS}: expected an object, got the string "a dog"`,
  ]);
  assertEquals(issuesOf(withElement({ type: "text", text: 5, desc: "d" })), []);
  assertEquals(issuesOf(DESIGN_CAPTION), []);
});

Deno.test("verify rule unknown-key: keys outside the schema, at every level", () => {
  const c = copy(PHOTO_CAPTION) as Any;
  c.aspect_ratio = "1:1";
  c.style_description.mood = "calm";
  c.compositional_deconstruction.foreground = "x";
  c.compositional_deconstruction.elements[1].colour = "red";
  assertEquals(rulesOf(c), ["unknown-key", "unknown-key", "unknown-key", "unknown-key"]);
  const lines = issuesOf(c);
  assert(
    lines[0].startsWith("aspect_ratio: unknown key (known here: high_level_description,"),
    lines[0],
  );
  assert(lines[1].startsWith("style_description.mood: unknown key"), lines[1]);
  assert(lines[2].startsWith("compositional_deconstruction.foreground: unknown key"), lines[2]);
  assert(
    lines[3].startsWith("compositional_deconstruction.elements[1].colour: unknown key"),
    lines[3],
  );
  assertEquals(issuesOf(PHOTO_CAPTION), []);
});

Deno.test("verify rule key-not-allowed: text in an obj element", () => {
  assertEquals(issuesOf(withElement({ type: "obj", text: "HI", desc: "d" })), [
    `${ELS}.text: not allowed in an 'obj' element`,
  ]);
  assertEquals(issuesOf(withElement({ type: "text", text: "HI", desc: "d" })), []);
});

Deno.test("verify rule required: missing required keys", () => {
  assertEquals(issuesOf({ high_level_description: "x" }), [
    "'compositional_deconstruction' is required",
  ]);
  assertEquals(issuesOf({ compositional_deconstruction: { elements: [] } }), [
    "compositional_deconstruction: 'background' is required",
  ]);
  assertEquals(issuesOf({ compositional_deconstruction: { background: "b" } }), [
    "compositional_deconstruction: 'elements' is required",
  ]);
  const style = copy(PHOTO_CAPTION.style_description) as Any;
  delete style.lighting;
  assertEquals(issuesOf(withStyle(style)), ["style_description: 'lighting' is required"]);
  assertEquals(issuesOf(withElement({ type: "obj" })), [`${ELS}: 'desc' is required`]);
  assertEquals(issuesOf(withElement({ type: "text", desc: "d" })), [`${ELS}: 'text' is required`]);
  assertEquals(issuesOf(withElement({ desc: "d" })), [`${ELS}: 'type' is required (obj or text)`]);
  assertEquals(issuesOf(withElement({ type: "obj", desc: "d" })), []);
});

Deno.test("verify rule key-order: known keys out of canonical order", () => {
  const photo = PHOTO_CAPTION.style_description;
  const swapped = {
    lighting: photo.lighting,
    aesthetics: photo.aesthetics,
    photo: photo.photo,
    medium: photo.medium,
  };
  assertEquals(issuesOf(withStyle(swapped)), [
    "style_description: keys are in the order lighting, aesthetics, photo, medium; expected aesthetics, lighting, photo, medium",
  ]);
  // Non-photo order puts medium before art_style; photo order puts photo before medium.
  const art = DESIGN_CAPTION.style_description;
  assertEquals(
    rulesOf(
      withStyle({ aesthetics: "a", lighting: "l", art_style: art.art_style, medium: art.medium }),
    ),
    ["key-order"],
  );
  assertEquals(
    rulesOf(withStyle({ aesthetics: "a", lighting: "l", medium: "photograph", photo: "35mm" })),
    ["key-order"],
  );
  assertEquals(
    rulesOf(
      withStyle({
        aesthetics: "a",
        lighting: "l",
        color_palette: ["#000000"],
        medium: "m",
        art_style: "s",
      }),
    ),
    ["key-order"],
  );
  assertEquals(issuesOf(withElement({ desc: "d", type: "obj" })), [
    `${ELS}: keys are in the order desc, type; expected type, desc`,
  ]);
  assertEquals(rulesOf(withElement({ type: "text", desc: "d", text: "T" })), ["key-order"]);
  assertEquals(rulesOf(withElement({ type: "obj", desc: "d", bbox: [0, 0, 1, 1] })), ["key-order"]);
  assertEquals(rulesOf({ compositional_deconstruction: { elements: [], background: "b" } }), [
    "key-order",
  ]);
  // The top level's keys may come in any order.
  assertEquals(
    rulesOf({
      compositional_deconstruction: MINIMAL_CAPTION.compositional_deconstruction,
      high_level_description: "h",
    }),
    [],
  );
  assertEquals(
    rulesOf(
      withElement({
        type: "text",
        bbox: [0, 0, 1, 1],
        text: "T",
        desc: "d",
        color_palette: ["#000000"],
      }),
    ),
    [],
  );
});

Deno.test("verify rule photo-or-art-style: exactly one of them", () => {
  assertEquals(
    issuesOf(
      withStyle({ aesthetics: "a", lighting: "l", photo: "p", medium: "m", art_style: "s" }),
    ),
    [
      "style_description: has both 'photo' and 'art_style'; keep exactly one",
    ],
  );
  assertEquals(rulesOf(withStyle({ aesthetics: "a", lighting: "l", medium: "m" })), [
    "photo-or-art-style",
  ]);
  assertEquals(rulesOf(withStyle(PHOTO_CAPTION.style_description)), []);
  assertEquals(rulesOf(withStyle(DESIGN_CAPTION.style_description)), []);
});

Deno.test("verify rule element-type: obj or text only", () => {
  assertEquals(issuesOf(withElement({ type: "image", desc: "d" })), [
    `${ELS}.type: the string "image" is not an element type (obj or text)`,
  ]);
  assertEquals(rulesOf(withElement({ type: "image", desc: "d", shape: "round" })), [
    "unknown-key",
    "element-type",
  ]);
  assertEquals(rulesOf(withElement({ type: "obj", desc: "d" })), []);
});

Deno.test("verify rule palette-size: at most 16 in the style, 5 per element", () => {
  const colours = (n: number) =>
    Array.from(
      { length: n },
      (_, i) => `#${(i * 1000).toString(16).toUpperCase().padStart(6, "0")}`,
    );
  const style = (n: number) =>
    withStyle({ ...DESIGN_CAPTION.style_description, color_palette: colours(n) });
  assertEquals(issuesOf(style(17)), [
    "style_description.color_palette: has 17 colours; at most 16 are allowed here",
  ]);
  assertEquals(issuesOf(style(16)), []);
  const el = (n: number) => withElement({ type: "obj", desc: "d", color_palette: colours(n) });
  assertEquals(issuesOf(el(6)), [
    `${ELS}.color_palette: has 6 colours; at most 5 are allowed here`,
  ]);
  assertEquals(issuesOf(el(5)), []);
});

Deno.test("verify rule hex-colour: upper-case #RRGGBB", () => {
  const el = withElement({
    type: "obj",
    desc: "d",
    color_palette: ["#f5c542", "#FFF", "red", 255, "#F5C542"],
  });
  assertEquals(issuesOf(el), [
    `${ELS}.color_palette[0]: the string "#f5c542" is not an upper-case #RRGGBB colour (write it as '#F5C542')`,
    `${ELS}.color_palette[1]: the string "#FFF" is not an upper-case #RRGGBB colour`,
    `${ELS}.color_palette[2]: the string "red" is not an upper-case #RRGGBB colour`,
    `${ELS}.color_palette[3]: the number 255 is not an upper-case #RRGGBB colour`,
  ]);
  assertEquals(issuesOf(withElement({ type: "obj", desc: "d", color_palette: "#F5C542" })), [
    `${ELS}.color_palette: expected a list of #RRGGBB colours, got the string "#F5C542"`,
  ]);
  assertEquals(
    issuesOf(withElement({ type: "obj", desc: "d", color_palette: ["#F5C542", "#0A0B0C"] })),
    [],
  );
});

Deno.test("verify rule bbox-shape: a list of four", () => {
  assertEquals(issuesOf(withElement({ type: "obj", bbox: [1, 2, 3], desc: "d" })), [
    `${ELS}.bbox: expected [y_min, x_min, y_max, x_max], got a list of 3`,
  ]);
  assertEquals(rulesOf(withElement({ type: "obj", bbox: "0,0,10,10", desc: "d" })), ["bbox-shape"]);
  assertEquals(rulesOf(withElement({ type: "obj", bbox: [0, 0, 10, 10], desc: "d" })), []);
});

Deno.test("verify rule bbox-int: integers only", () => {
  assertEquals(issuesOf(withElement({ type: "obj", bbox: [0, 12.5, "100", 100], desc: "d" })), [
    `${ELS}.bbox[1]: the number 12.5 is not an integer (x_min)`,
    `${ELS}.bbox[2]: the string "100" is not an integer (y_max)`,
  ]);
  assertEquals(rulesOf(withElement({ type: "obj", bbox: [0, 12, 100, 100], desc: "d" })), []);
  // Written as a float, an integral value is still a float (Python's json reads 1.0 as float).
  const floats = '{"type":"obj","bbox":[0,1.0,1e2,100E0],"desc":"d"}';
  assertEquals(issuesOf(rawElement(floats)), [
    `${ELS}.bbox[1]: the number 1, written as a float, is not an integer (x_min)`,
    `${ELS}.bbox[2]: the number 100, written as a float, is not an integer (y_max)`,
    `${ELS}.bbox[3]: the number 100, written as a float, is not an integer (x_max)`,
  ]);
  // Booleans are refused although Python counts them as integers (README, differences).
  assertEquals(rulesOf(withElement({ type: "obj", bbox: [false, 0, true, 1], desc: "d" })), [
    "bbox-int",
    "bbox-int",
  ]);
});

Deno.test("verify rule bbox-range: 0..1000, with the exact path", () => {
  const c = copy(DESIGN_CAPTION) as Any;
  c.compositional_deconstruction.elements[2] = {
    type: "text",
    bbox: [900, 600, 980, 1200],
    text: "Friday",
    desc: "d",
  };
  assertEquals(issuesOf(c), [
    "compositional_deconstruction.elements[2].bbox[3]: 1200 is outside 0..1000",
  ]);
  assertEquals(issuesOf(withElement({ type: "obj", bbox: [-1, 0, 5, 5], desc: "d" })), [
    `${ELS}.bbox[0]: -1 is outside 0..1000`,
  ]);
  assertEquals(issuesOf(withElement({ type: "obj", bbox: [0, 0, 1000, 1000], desc: "d" })), []);
});

Deno.test("verify rule bbox-order: min not above max (equal edges allowed)", () => {
  assertEquals(issuesOf(withElement({ type: "obj", bbox: [800, 600, 300, 100], desc: "d" })), [
    `${ELS}.bbox: y_min 800 is greater than y_max 300`,
    `${ELS}.bbox: x_min 600 is greater than x_max 100`,
  ]);
  assertEquals(issuesOf(withElement({ type: "obj", bbox: [300, 100, 300, 100], desc: "d" })), []);
});

Deno.test("verify: issues carry rule, path and message", () => {
  const issues: CaptionIssue[] = verifyCaption(
    text(withElement({ type: "obj", bbox: [0, 0, 5, 1001], desc: "d" })),
  );
  assertEquals(issues, [{
    rule: "bbox-range",
    path: `${ELS}.bbox[3]`,
    message: "1001 is outside 0..1000",
  }]);
});
