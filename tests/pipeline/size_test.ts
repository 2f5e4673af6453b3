import { latentGrid, sizeAdvice, SizeError, validateSize } from "../../src/pipeline/size.ts";
import { assert, assertEquals, assertRejects } from "../assert.ts";

Deno.test("validateSize accepts every positive multiple of 16 (upstream's rule)", () => {
  for (
    const [w, h] of [
      [1024, 1024],
      [256, 256],
      [2048, 2048],
      [1536, 256],
      [1344, 768],
      [16, 16],
      [64, 48],
      [4096, 2048],
      [1792, 256],
      [4096, 16],
    ]
  ) {
    validateSize(w, h);
  }
});

Deno.test("validateSize rejects each broken rule with a SizeError naming the value", async () => {
  const cases: [number, number, string[]][] = [
    [1000, 1024, ["width 1000", "multiple of 16"]],
    [1024, 1016.5, ["height 1016.5", "whole number"]],
    [0, 1024, ["width 0", "positive"]],
    [1024, -16, ["height -16", "positive"]],
    [NaN, 1024, ["width NaN"]],
  ];
  for (const [w, h, parts] of cases) {
    const e = await assertRejects(() => validateSize(w, h), ...parts);
    assert(e instanceof SizeError, `${w}x${h}: ${e.name}`);
  }
});

Deno.test("sizeAdvice warns outside the recommended 256…2048 and 6:1, naming what is outside", () => {
  for (const [w, h] of [[1024, 1024], [256, 256], [2048, 2048], [256, 1536], [1344, 768]]) {
    assertEquals(sizeAdvice(w, h), undefined, `${w}x${h}`);
  }
  const cases: [number, number, string[]][] = [
    [240, 1024, ["240x1024", "width 240", "256…2048"]],
    [1024, 2064, ["height 2064"]],
    [1792, 256, ["aspect ratio 7.00:1", "6:1"]],
    [64, 64, ["width 64, height 64", "generating anyway"]],
  ];
  for (const [w, h, parts] of cases) {
    const advice = sizeAdvice(w, h);
    assert(advice !== undefined, `${w}x${h} gets a warning`);
    for (const part of parts) assert(advice.includes(part), `"${advice}" lacks "${part}"`);
  }
  assert(!sizeAdvice(1792, 256)!.includes("width"), "only the aspect ratio is named");
});

Deno.test("latentGrid is one token per 16×16 pixels", async () => {
  assertEquals(latentGrid(1024, 1024), { gh: 64, gw: 64, tokens: 4096 });
  assertEquals(latentGrid(1344, 768), { gh: 48, gw: 84, tokens: 4032 });
  assertEquals(latentGrid(48, 80), { gh: 5, gw: 3, tokens: 15 });
  await assertRejects(() => latentGrid(1000, 1024), "width 1000", "multiple of 16");
  await assertRejects(() => latentGrid(0, 1024), "positive");
});
