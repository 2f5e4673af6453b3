import { assertEquals, assertRejects } from "../assert.ts";
import {
  buildCaption,
  CaptionBuildError,
  elementPalette,
  parseBBox,
  parseElementSpec,
  parsePalette,
} from "../../src/prompt/builder.ts";
import { serializeCaption } from "../../src/prompt/canonical.ts";
import { verifyCaption } from "../../src/prompt/verify.ts";
import { DESIGN_CAPTION, PHOTO_CAPTION, text } from "./examples.ts";

/** Runs a builder call that must fail, checking the error class and message parts. */
async function refuses(fn: () => unknown, ...parts: string[]): Promise<void> {
  const e = await assertRejects(fn, ...parts);
  assertEquals(e instanceof CaptionBuildError, true, `${e.name} is a CaptionBuildError`);
}

Deno.test("builder: palettes are split, trimmed, upper-cased and bounded", async () => {
  assertEquals(parsePalette("#F5C542, #87ceeb,"), ["#F5C542", "#87CEEB"]);
  assertEquals(parsePalette(["#000000"]), ["#000000"]);
  await refuses(() => parsePalette("#F5C542,#FFF"), "'#FFF' is not a #RRGGBB colour");
  await refuses(() => parsePalette("red"), "'red'");
  await refuses(() => parsePalette(" , "), "no colours");
  await refuses(() => parsePalette(Array(17).fill("#000000")), "17 colours; at most 16");
  await refuses(() => elementPalette(Array(6).fill("#000000")), "element palette", "at most 5");
});

Deno.test("builder: bboxes are four whole numbers in 0..1000, min not above max", async () => {
  assertEquals(parseBBox("200, 300,800,900"), [200, 300, 800, 900]);
  assertEquals(parseBBox("0,0,1000,1000"), [0, 0, 1000, 1000]);
  await refuses(() => parseBBox("1,2,3"), "four numbers");
  await refuses(() => parseBBox("1,2,3,4.5"), "x_max '4.5' is not a whole number");
  await refuses(() => parseBBox("1,2,3,1001"), "x_max 1001 is outside 0..1000");
  await refuses(() => parseBBox("500,0,400,10"), "y_min 500 is greater than y_max 400");
  await refuses(() => parseBBox("0,50,10,40"), "x_min 50 is greater than x_max 40");
});

Deno.test("builder: element specs", async () => {
  assertEquals(parseElementSpec("obj:200,300,800,900:a golden retriever"), {
    type: "obj",
    bbox: [200, 300, 800, 900],
    desc: "a golden retriever",
  });
  assertEquals(parseElementSpec("obj::a clock showing 10:30: big hands"), {
    type: "obj",
    desc: "a clock showing 10:30: big hands",
  });
  assertEquals(parseElementSpec("text:10,10,90,990:Hello"), {
    type: "text",
    bbox: [10, 10, 90, 990],
    text: "Hello",
    desc: "Lettering that reads 'Hello'.",
  });
  assertEquals(parseElementSpec("text::Open 9\\:00\\nDaily \\\\o/:White serif letters: large"), {
    type: "text",
    text: "Open 9:00\nDaily \\o/",
    desc: "White serif letters: large",
  });
  await refuses(() => parseElementSpec("obj:a dog"), "expected TYPE:BBOX:");
  await refuses(() => parseElementSpec("img::a dog"), "type 'img' is not obj or text");
  await refuses(() => parseElementSpec("obj:1,2,3:a dog"), "four numbers");
  await refuses(() => parseElementSpec("obj::  "), "the description is empty");
  await refuses(() => parseElementSpec("text:::a sign"), "the text is empty");
});

Deno.test("builder: builds the example captions field by field", () => {
  const photo = PHOTO_CAPTION, style = photo.style_description;
  const built = buildCaption({
    highLevel: photo.high_level_description,
    background: photo.compositional_deconstruction.background,
    style: {
      aesthetics: style.aesthetics,
      lighting: style.lighting,
      medium: style.medium,
      photo: style.photo,
      palette: style.color_palette.join(",").toLowerCase(),
    },
    elements: [
      `obj:520,80,900,920:${photo.compositional_deconstruction.elements[0].desc}`,
      {
        ...photo.compositional_deconstruction.elements[1],
        type: "obj",
        bbox: [300, 250, 640, 760],
      },
    ],
  });
  assertEquals(text(built), text(PHOTO_CAPTION));
  const d = DESIGN_CAPTION, ds = d.style_description, els = d.compositional_deconstruction.elements;
  const design = buildCaption({
    highLevel: d.high_level_description,
    background: d.compositional_deconstruction.background,
    style: {
      artStyle: ds.art_style,
      medium: ds.medium,
      lighting: ds.lighting,
      aesthetics: ds.aesthetics,
      palette: ds.color_palette,
    },
    elements: [
      `obj::${els[0].desc}`,
      `text::JAZZ NIGHT:${els[1].desc}`,
      `text::Friday 21\\:00:${els[2].desc}`,
    ],
  });
  assertEquals(serializeCaption(design), text(DESIGN_CAPTION));
  assertEquals(verifyCaption(serializeCaption(design)), []);
  assertEquals(
    text(buildCaption({ background: "b" })),
    '{"compositional_deconstruction":{"background":"b","elements":[]}}',
  );
});

Deno.test("builder: incomplete styles and bad parts are refused with what is missing", async () => {
  await refuses(
    () => buildCaption({ background: "b", style: { palette: "#000000" } }),
    "needs aesthetics, lighting, medium",
  );
  await refuses(
    () => buildCaption({ background: "b", style: { aesthetics: "a", lighting: "l", medium: "m" } }),
    "exactly one of photo",
  );
  await refuses(
    () =>
      buildCaption({
        background: "b",
        style: { aesthetics: "a", lighting: "l", medium: "m", photo: "p", artStyle: "s" },
      }),
    "exactly one of photo",
  );
  await refuses(() => buildCaption({ background: "  " }), "the background is empty");
  // Typed elements are checked by the verifier on the way out.
  await refuses(
    () =>
      buildCaption({
        background: "b",
        elements: [{ type: "obj", desc: "d", color_palette: ["#abcdef"] }],
      }),
    "color_palette[0]",
    "upper-case",
  );
});
