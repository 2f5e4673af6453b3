/**
 * Prompt files: UTF-8 only with the byte offset of the first bad byte,
 * binary content refused, size capped without reading the rest (exit 2 as
 * PromptRejectedError), on bytes and on real files (/dev/zero included).
 */
import { assert, assertEquals, assertRejects } from "../assert.ts";
import { withTempDir } from "../io/io_util.ts";
import { PromptRejectedError } from "../../src/prompt/errors.ts";
import {
  decodePromptText,
  invalidUtf8Offset,
  MAX_PROMPT_FILE_BYTES,
} from "../../src/prompt/text_file.ts";
import { readPromptFile } from "../../src/cli/read_limited.ts";

const enc = (s: string) => new TextEncoder().encode(s);

Deno.test("invalidUtf8Offset agrees with a fatal TextDecoder and finds the first bad byte", () => {
  const cases: [number[], number][] = [
    [[...enc("café 灯台 🎈")], -1],
    [[0x63, 0x61, 0x66, 0xe9], 3], // Latin-1 "café"
    [[0x41, 0xc0, 0x80], 1], // overlong NUL
    [[0xed, 0xa0, 0x80], 0], // UTF-8 encoded surrogate U+D800
    [[0xf4, 0x90, 0x80, 0x80], 0], // above U+10FFFF
    [[0x41, 0x42, 0xe2, 0x82], 2], // truncated sequence at the end
    [[0xe2, 0x28, 0xa1], 0], // bad continuation
  ];
  for (const [bytes, want] of cases) {
    const b = new Uint8Array(bytes);
    assertEquals(invalidUtf8Offset(b), want, `[${bytes}]`);
    let fatal = false;
    try {
      new TextDecoder("utf-8", { fatal: true }).decode(b);
    } catch {
      fatal = true;
    }
    assertEquals(fatal, want >= 0, `[${bytes}] decoder`);
  }
});

Deno.test("decodePromptText: UTF-8 text passes (BOM dropped); Latin-1, binary, oversize refused", async () => {
  assertEquals(
    decodePromptText(enc("\uFEFFa lighthouse\tat dusk\r\n"), "p.txt"),
    "a lighthouse\tat dusk\r\n",
  );
  const cases: [Uint8Array, string[]][] = [
    [new Uint8Array([0x63, 0x61, 0x66, 0xe9, 0x0a]), [
      "p.txt",
      "not valid UTF-8 at byte offset 3",
      "0xe9",
    ]],
    [new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), ["p.txt", "a PNG image"]],
    [enc("abc\0def"), ["binary content", "0x00 at byte offset 3"]],
    [new Uint8Array(MAX_PROMPT_FILE_BYTES + 1).fill(0x61), ["larger than 512 KiB"]],
  ];
  for (const [bytes, parts] of cases) {
    const e = await assertRejects(() => decodePromptText(bytes, "p.txt"), ...parts);
    assert(e instanceof PromptRejectedError && e.exitCode === 2, e.message);
  }
});

Deno.test("readPromptFile: missing file, folder, /dev/zero (bounded), real text", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/p.txt`, "a red fox");
    assertEquals(await readPromptFile(`${dir}/p.txt`), "a red fox");
    for (
      const [path, part] of [
        [`${dir}/missing.txt`, "no such file"],
        [dir, "is a folder"],
        ["/dev/zero", "larger than 512 KiB"],
      ]
    ) {
      const e = await assertRejects(() => readPromptFile(path), path, part);
      assert(e instanceof PromptRejectedError, e.message);
    }
  });
});
