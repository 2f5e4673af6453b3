/**
 * Our verifier against upstream's: every caption of the corpus gets upstream's
 * verdict (tests/prompt/upstream_verdicts.ts), except the deliberate
 * differences, which must each have their row in the README.
 */
import { assert, assertEquals } from "../assert.ts";
import { formatIssue, verifyCaption } from "../../src/prompt/verify.ts";
import { UPSTREAM_VERDICTS } from "./upstream_verdicts.ts";

Deno.test("verify: the verdict of upstream's caption_verifier.py on each caption of the corpus", () => {
  assert(UPSTREAM_VERDICTS.length >= 40, `only ${UPSTREAM_VERDICTS.length} captions`);
  const wrong: string[] = [];
  for (const c of UPSTREAM_VERDICTS) {
    const issues = verifyCaption(c.text);
    const ours = issues.length === 0 ? "accept" : "refuse";
    const expected = c.ours ?? c.upstream;
    if (ours !== expected) {
      wrong.push(`${c.name}: ${ours}, expected ${expected}; ${issues.map(formatIssue).join("; ")}`);
    }
  }
  assertEquals(wrong, []);
});

Deno.test("verify: each deliberate difference from upstream's verdict is in the README's table", async () => {
  const readme = await Deno.readTextFile(new URL("../../README.md", import.meta.url));
  const section = readme.split("## Differences from upstream")[1]?.split("\n## ")[0] ?? "";
  assert(section !== "", "README has no '## Differences from upstream' section");
  const rows = section.split("\n").filter((l) => l.startsWith("|"));
  for (const c of UPSTREAM_VERDICTS.filter((c) => c.ours !== undefined)) {
    assert(c.readme, `${c.name}: differs from upstream without naming its README row`);
    assert(rows.some((r) => r.includes(c.readme!)), `${c.name}: no README row with "${c.readme}"`);
  }
});
