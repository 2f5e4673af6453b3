/**
 * The page's logic that needs no browser: the caption preview (verifier
 * messages, palettes, boxes) and where a checkpoint is read from.
 */
import { previewCaption } from "../../web/caption_preview.ts";
import { openSource } from "../../web/model_source.ts";
import { PLAIN_TEXT_WARNING } from "../../src/prompt/check.ts";
import { RunProgress } from "../../web/progress.ts";
import { droppedFiles } from "../../web/dropped_folder.ts";
import { assert, assertEquals } from "../assert.ts";
import { PHOTO_CAPTION } from "../prompt/examples.ts";

Deno.test("caption preview: plain text has nothing to preview, and the plain-text warning", () => {
  assertEquals(previewCaption("a red fox in the snow"), {
    isJson: false,
    issues: [],
    rawIssues: [],
    warnings: [PLAIN_TEXT_WARNING],
    palettes: [],
    boxes: [],
  });
  // The same warning as the CLI and the library: why, and the ways to a caption.
  for (const part of ["trained only on JSON captions", "magic prompt", "`caption` command"]) {
    assert(PLAIN_TEXT_WARNING.includes(part), part);
  }
  assertEquals(previewCaption("  ").warnings, []);
  assertEquals(previewCaption(JSON.stringify(PHOTO_CAPTION)).warnings, []);
});

Deno.test("caption preview: a valid caption gives its palettes and boxes", () => {
  const p = previewCaption(JSON.stringify(PHOTO_CAPTION, null, 2));
  assertEquals([p.isJson, p.issues], [true, []]);
  assertEquals(p.palettes, [
    { source: "style", colours: PHOTO_CAPTION.style_description.color_palette },
    { source: "element 1", colours: ["#D98E4A", "#6B4226"] },
  ]);
  const [e0, e1] = PHOTO_CAPTION.compositional_deconstruction.elements;
  assertEquals(p.boxes.map((b) => [b.index, b.yMin, b.xMin, b.yMax, b.xMax, b.colour]), [
    [0, ...e0.bbox, undefined],
    [1, ...e1.bbox, "#D98E4A"],
  ]);
  assert(p.boxes[1].label.startsWith("1: obj A tabby cat"), p.boxes[1].label);
  assert(p.boxes[1].label.length <= 40, `label not shortened: ${p.boxes[1].label}`);
});

Deno.test("caption preview: the verifier's messages, and what still previews", () => {
  const bad = {
    compositional_deconstruction: {
      background: "A wall.",
      elements: [
        { type: "obj", bbox: [0, 0, 1200, 500], desc: "A ball.", color_palette: ["#ff0000"] },
        { type: "text", bbox: [10, 10, 5, 20], text: "HI", desc: "Letters." },
      ],
    },
  };
  const p = previewCaption(JSON.stringify(bad));
  assertEquals(p.issues, [
    "compositional_deconstruction.elements[0].bbox[2]: 1200 is outside 0..1000",
    ...p.rawIssues.slice(1).map((i) => `${i.path}: ${i.message}`),
  ]);
  assert(p.rawIssues.some((i) => i.rule === "hex-colour"), "lower-case colour reported");
  assert(p.rawIssues.some((i) => i.rule === "bbox-order"), "inverted box reported");
  // Lower case still paints; an inverted box cannot be drawn.
  assertEquals(p.palettes, [{ source: "element 0", colours: ["#ff0000"] }]);
  assertEquals(p.boxes.map((b) => b.index), [0]);

  const syntax = previewCaption('{\n  "compositional_deconstruction": ]\n}');
  assertEquals(syntax.rawIssues.map((i) => [i.rule, i.line]), [["json", 2]]);
  assert(/line 2, column \d+/.test(syntax.issues[0]), syntax.issues[0]);
  assertEquals([syntax.palettes, syntax.boxes], [[], []]);
});

/** A `File` as `<input webkitdirectory>` gives it. */
function picked(relativePath: string, body = "x"): File {
  const f = new File([body], relativePath.split("/").pop()!);
  Object.defineProperty(f, "webkitRelativePath", { value: relativePath });
  return f;
}

Deno.test("model source: embedded and URL checkpoints resolve against the page", async () => {
  const page = "http://127.0.0.1:8000/index.html";
  const seen: string[] = [];
  const recordingFetch = (input: RequestInfo | URL) => {
    seen.push(String(input));
    return Promise.resolve(new Response(null, { status: 404 }));
  };
  const where = async (source: Parameters<typeof openSource>[0]) => {
    const s = openSource(source, page, recordingFetch);
    seen.length = 0;
    await s.platform.exists(s.platform.join(s.dir, "vae", "config.json"));
    return { dir: s.dir, label: s.label, fetched: seen[0] };
  };
  assertEquals(await where({ kind: "embedded" }), {
    dir: "",
    label: "the embedded tiny model",
    fetched: "http://127.0.0.1:8000/models/tiny/vae/config.json",
  });
  assertEquals(await where({ kind: "url", url: "https://example.test/ckpt" }), {
    dir: "",
    label: "https://example.test/ckpt/",
    fetched: "https://example.test/ckpt/vae/config.json",
  });
  assertEquals(
    (await where({ kind: "url", url: "/weights/v4/" })).fetched,
    "http://127.0.0.1:8000/weights/v4/vae/config.json",
  );
  let thrown = "";
  try {
    openSource({ kind: "url", url: "  " }, page);
  } catch (e) {
    thrown = (e as Error).message;
  }
  assert(thrown.includes("URL"), thrown);
});

Deno.test("model source: a picked folder is the checkpoint, or holds exactly one", async () => {
  const top = openSource({
    kind: "folder",
    files: [picked("tiny/tokenizer/tokenizer.json", "{}"), picked("tiny/vae/config.json")],
  }, "http://x/");
  assertEquals(top.dir, "");
  assertEquals(await top.platform.readText("tokenizer/tokenizer.json"), "{}");

  const parent = openSource({
    kind: "folder",
    files: [picked("models/tiny/tokenizer/tokenizer.json"), picked("models/README.md")],
  }, "http://x/");
  assertEquals(parent.dir, "tiny");
  // What the page posts to its worker: the same files by relative path.
  const posted = openSource({
    kind: "folder",
    files: new Map([["tiny/tokenizer/tokenizer.json", new Blob(["{}"])]]),
  }, "http://x/");
  assertEquals(posted.dir, "tiny");
  assert(
    await parent.platform.exists(parent.platform.join(parent.dir, "tokenizer", "tokenizer.json")),
  );

  let thrown = "";
  try {
    openSource({
      kind: "folder",
      files: [picked("m/a/tokenizer/tokenizer.json"), picked("m/b/tokenizer/tokenizer.json")],
    }, "http://x/");
  } catch (e) {
    thrown = (e as Error).message;
  }
  assert(thrown.includes("2 checkpoints (a, b)"), thrown);
  let empty = "";
  try {
    openSource({ kind: "folder", files: [] }, "http://x/");
  } catch (e) {
    empty = (e as Error).message;
  }
  assert(empty.includes("empty"), empty);
});

Deno.test("progress line: stage, then step i/N, s/step over recent steps, ETA", () => {
  const p = new RunProgress();
  assertEquals(p.line(), "waiting");
  p.setStage("encoding the prompt");
  assertEquals([p.line(), p.secondsPerStep(), p.etaSeconds()], [
    "encoding the prompt",
    undefined,
    undefined,
  ]);
  // The first step pays for shader compilation; the average forgets it after 4 more.
  for (const [i, ms] of [[1, 9000], [2, 500], [3, 700], [4, 600], [5, 400]]) p.addStep(i, 12, ms);
  assertEquals(p.secondsPerStep(), 0.55);
  assertEquals(p.etaSeconds()!.toFixed(2), "3.85");
  assertEquals(p.line(), "sampling · step 5/12 · 0.55 s/step · ETA 3.9 s");
  p.setStage("decoding");
  assertEquals(p.line(), "decoding");
});

/** A stand-in for the browser's FileSystemEntry tree of a dropped folder (two batches per folder). */
function fakeEntry(name: string, content: Record<string, unknown> | string): unknown {
  if (typeof content === "string") {
    return {
      name,
      isFile: true,
      isDirectory: false,
      file: (ok: (f: File) => void) => ok(new File([content], name)),
    };
  }
  const children = Object.entries(content).map(([n, c]) =>
    fakeEntry(n, c as Record<string, unknown>)
  );
  const batches = [children.slice(0, 1), children.slice(1), []];
  return {
    name,
    isFile: false,
    isDirectory: true,
    createReader: () => ({
      readEntries: (ok: (e: unknown[]) => void) => ok(batches.shift() ?? []),
    }),
  };
}

Deno.test("dropped folder: walked into files by path inside it, every batch read", async () => {
  const tree = fakeEntry("tiny", {
    tokenizer: { "tokenizer.json": "{}", "tokenizer_config.json": "{}" },
    vae: { "config.json": "{}" },
  });
  const items = [{ webkitGetAsEntry: () => tree }] as unknown as DataTransferItemList;
  const files = await droppedFiles(items);
  assertEquals([...files.keys()].sort(), [
    "tokenizer/tokenizer.json",
    "tokenizer/tokenizer_config.json",
    "vae/config.json",
  ]);
  const opened = openSource({ kind: "folder", files }, "http://x/");
  assertEquals(opened.dir, "");
  assertEquals(await opened.platform.readText("tokenizer/tokenizer.json"), "{}");
});
