/**
 * A user's caption reaches the text encoder exactly as written, as upstream
 * tokenizes its prompt string: a pretty-printed caption (written by Python's
 * `json.dumps(caption, indent=2, ensure_ascii=False)`, the fixture
 * unicode_caption_pretty.json), one with `", "` separators, or one let
 * through with issues gives the token ids of its own text, not those of the
 * canonical form.
 */
import { assert, assertEquals } from "../assert.ts";
import { canonicalizeCaption } from "../../src/prompt/canonical.ts";
import { preparePrompt } from "../../src/prompt/prepare.ts";
import { qwen3 } from "../text/fixtures.ts";
import { UNICODE_CAPTION } from "./examples.ts";

const PRETTY = await Deno.readTextFile(new URL("./unicode_caption_pretty.json", import.meta.url));

function sameIds(a: Int32Array, b: Int32Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

Deno.test("verbatim: a pretty-printed caption is tokenized as written, not minified", async () => {
  assert(PRETTY.includes('\n  "style_description": {\n'), "the fixture is pretty-printed");
  const tok = qwen3();
  const spaced = JSON.stringify(UNICODE_CAPTION).replaceAll('","', '", "').replaceAll('":', '": ');
  for (const written of [PRETTY, spaced]) {
    const prepared = await preparePrompt({ prompt: written, width: 1024, height: 1024 });
    assertEquals(prepared.prompt, written);
    const ids = tok.encodePrompt(prepared.prompt).ids;
    assert(sameIds(ids, tok.encodePrompt(written).ids), "ids of the string as given");
    const canonical = tok.encodePrompt(canonicalizeCaption(written)).ids;
    assert(!sameIds(ids, canonical), "the canonical form would give other ids");
  }
});

Deno.test("verbatim: a caption let through with issues is not re-ordered either", async () => {
  // Style keys out of order (a key-order issue): upstream sends it as written, and so do we.
  const swapped = PRETTY.replace(
    '"aesthetics": "cosy, handmade",\n    "lighting": "warm indoor light",',
    '"lighting": "warm indoor light",\n    "aesthetics": "cosy, handmade",',
  );
  assert(swapped !== PRETTY);
  const prepared = await preparePrompt({
    prompt: swapped,
    width: 512,
    height: 512,
    warnOnCaptionIssues: true,
  });
  assertEquals(prepared.captionIssues.map((i) => i.rule), ["key-order"]);
  assertEquals(prepared.prompt, swapped);
});
