import { latentGrid, SizeError, validateSize } from "../../src/pipeline/size.ts";
import { assert, assertEquals, assertRejects } from "../assert.ts";

Deno.test("validateSize accepts the model's sizes", () => {
  for (
    const [w, h] of [[1024, 1024], [256, 256], [2048, 2048], [1536, 256], [256, 1536], [1344, 768]]
  ) {
    validateSize(w, h);
  }
});

Deno.test("validateSize rejects each broken rule with a SizeError naming the value", async () => {
  const cases: [number, number, string[]][] = [
    [1000, 1024, ["width 1000", "multiple of 16"]],
    [1024, 1016.5, ["height 1016.5", "whole number"]],
    [240, 1024, ["width 240", "256…2048"]],
    [1024, 2064, ["height 2064", "256…2048"]],
    [1792, 256, ["1792x256", "aspect ratio 7.000:1", "6:1"]],
    [256, 1552, ["256x1552", "6:1"]],
    [NaN, 1024, ["width NaN"]],
  ];
  for (const [w, h, parts] of cases) {
    const e = await assertRejects(() => validateSize(w, h), ...parts);
    assert(e instanceof SizeError, `${w}x${h}: ${e.name}`);
  }
});

Deno.test("latentGrid is one token per 16×16 pixels", async () => {
  assertEquals(latentGrid(1024, 1024), { gh: 64, gw: 64, tokens: 4096 });
  assertEquals(latentGrid(1344, 768), { gh: 48, gw: 84, tokens: 4032 });
  assertEquals(latentGrid(48, 80), { gh: 5, gw: 3, tokens: 15 });
  await assertRejects(() => latentGrid(1000, 1024), "width 1000", "multiple of 16");
  await assertRejects(() => latentGrid(0, 1024), "not positive");
});
