import { assert, assertEquals, assertRejects } from "../assert.ts";
import {
  type CliIo,
  MAGIC_PROMPT_FLAGS,
  parsePromptFlags,
  promptSettingsFromFlags,
  runCaption,
  runVerify,
} from "../../src/cli/prompt_commands.ts";
import { parseArgs } from "node:util";
import { UsageError } from "../../src/cli/usage_error.ts";
import { screenPrompt } from "../../src/prompt/moderation.ts";
import { FAST_RETRY, type Recorded, withServer } from "./local_server.ts";
import { DESIGN_CAPTION, PHOTO_CAPTION, text, UNICODE_CAPTION } from "./examples.ts";

/** In-memory files and stdin; captured stdout and stderr lines. */
function fakeIo(files: Record<string, string> = {}, stdin = "") {
  const out: string[] = [], err: string[] = [];
  const io: CliIo = {
    readStdin: () => Promise.resolve(stdin),
    readFile: (path) =>
      path in files
        ? Promise.resolve(files[path])
        : Promise.reject(new Error(`No such file: ${path}`)),
    stdout: (t) => void out.push(t),
    stderr: (t) => void err.push(t),
  };
  return { io, out, err };
}

Deno.test("cli verify: exit 0 for valid captions, 2 with path messages for invalid ones", async () => {
  const bad =
    '{\n  "compositional_deconstruction": {\n    "background": "b",\n    "elements": [{"type": "obj", "bbox": [0, 0, 10, 1200], "desc": "d"}]\n  }\n}';
  const { io, err } = fakeIo({
    "good.json": text(PHOTO_CAPTION),
    "bad.json": bad,
    "broken.json": '{"a": }',
  });
  assertEquals(await runVerify(["good.json"], io), 0);
  assertEquals(err, ["good.json: valid caption"]);
  err.length = 0;
  assertEquals(await runVerify(["good.json", "bad.json", "broken.json", "missing.json"], io), 2);
  assertEquals(err, [
    "good.json: valid caption",
    "bad.json: compositional_deconstruction.elements[0].bbox[3]: 1200 is outside 0..1000",
    "broken.json: invalid JSON at line 1, column 7: expected a value, found '}'",
    "missing.json: cannot read: No such file: missing.json",
  ]);
});

Deno.test("cli verify: stdin, BOM, --quiet, a canonical-form hint, usage errors", async () => {
  const s = fakeIo({}, "\uFEFF" + text(UNICODE_CAPTION));
  assertEquals(await runVerify([], s.io), 0);
  assertEquals(s.err, ["<stdin>: valid caption"]);
  const q = fakeIo({ "x.json": text(DESIGN_CAPTION) });
  assertEquals(await runVerify(["-q", "x.json"], q.io), 0);
  assertEquals(q.err, []);
  const order = fakeIo({}, '{"compositional_deconstruction":{"elements":[],"background":"b"}}');
  assertEquals(await runVerify(["-"], order.io), 2);
  assertEquals(order.err[1], "<stdin>: `caption --canonical -` writes it in the canonical form");
  // A lone surrogate stays an escape in canonical form: no hint that cannot work.
  const lone = '{"compositional_deconstruction":{"background":"\\ud800","elements":[]}}';
  const l = fakeIo({}, lone);
  assertEquals(await runVerify(["-"], l.io), 2);
  assert(!l.err.some((e) => e.includes("caption --canonical")), l.err.join("\n"));
  const esc = fakeIo(
    {},
    '{"compositional_deconstruction":{"background":"caf\\u00e9","elements":[]}}',
  );
  assertEquals(await runVerify(["-"], esc.io), 2);
  assertEquals(esc.err.at(-1), "<stdin>: `caption --canonical -` writes it in the canonical form");
  const u = fakeIo();
  assertEquals(await runVerify(["--bogus"], u.io), 2);
  assert(u.err[0].startsWith("verify: Unknown option '--bogus'"), u.err[0]);
  const h = fakeIo();
  assertEquals(await runVerify(["--help"], h.io), 0);
  assert(h.out[0].startsWith("usage: verify"));
});

Deno.test("cli caption: builds from flags (minified by default, --pretty indented)", async () => {
  const c = DESIGN_CAPTION, s = c.style_description, els = c.compositional_deconstruction.elements;
  const args = [
    "--high-level",
    c.high_level_description,
    "--background",
    c.compositional_deconstruction.background,
    "--style-aesthetics",
    s.aesthetics,
    "--style-lighting",
    s.lighting,
    "--style-medium",
    s.medium,
    "--style-art-style",
    s.art_style,
    "--palette",
    s.color_palette.join(","),
    "--element",
    `obj::${els[0].desc}`,
    "--element",
    `text::JAZZ NIGHT:${els[1].desc}`,
    "--element",
    `text::Friday 21\\:00:${els[2].desc}`,
  ];
  const m = fakeIo();
  assertEquals(await runCaption(args, m.io), 0);
  assertEquals([m.out, m.err], [[text(DESIGN_CAPTION)], []]);
  const p = fakeIo();
  assertEquals(await runCaption([...args, "--pretty"], p.io), 0);
  assert(
    p.out[0].startsWith(
      '{\n  "high_level_description": "A minimalist concert poster for a jazz night.",\n',
    ),
    p.out[0],
  );
  assertEquals(JSON.parse(p.out[0]), DESIGN_CAPTION);
  const simple = fakeIo();
  assertEquals(
    await runCaption([
      "--background",
      "a park",
      "--element",
      "obj:200,300,800,900:a golden retriever",
    ], simple.io),
    0,
  );
  assertEquals(simple.out, [
    '{"compositional_deconstruction":{"background":"a park","elements":[{"type":"obj","bbox":[200,300,800,900],"desc":"a golden retriever"}]}}',
  ]);
});

Deno.test("cli caption: bad build input exits 2 with the reason", async () => {
  const cases: [string[], string][] = [
    [["--element", "obj::x"], "caption: --background is required"],
    [["--background", "b", "--element", "obj:1,2,3:x"], "needs four numbers"],
    [
      ["--background", "b", "--palette", "#F5C542,#87CEEB"],
      "also needs --style-aesthetics, --style-lighting, --style-medium, exactly one of --style-photo / --style-art-style",
    ],
    [[
      "--background",
      "b",
      "--style-aesthetics",
      "a",
      "--style-lighting",
      "l",
      "--style-medium",
      "m",
      "--style-photo",
      "p",
      "--style-art-style",
      "s",
    ], "also needs exactly one of"],
    [["--background", "b", "--element", "shape::x"], "type 'shape' is not obj or text"],
    [["--background", "b", "stray"], "unexpected argument 'stray'"],
    [["--colour", "red"], "Unknown option '--colour'"],
  ];
  for (const [args, part] of cases) {
    const f = fakeIo();
    assertEquals(await runCaption(args, f.io), 2, args.join(" "));
    assert(f.err.join("\n").includes(part), `${args.join(" ")}: ${f.err.join("\n")}`);
    assertEquals(f.out, []);
  }
});

Deno.test("cli caption --canonical: reorders, minifies, unescapes; exit 2 when issues remain", async () => {
  const messy =
    '{\n "compositional_deconstruction": {"elements": [{"desc": "caf\\u00e9 sign", "type": "obj"}], "background": "b"}\n}';
  const f = fakeIo({ "m.json": messy });
  assertEquals(await runCaption(["--canonical", "m.json"], f.io), 0);
  assertEquals([f.out, f.err], [[
    '{"compositional_deconstruction":{"background":"b","elements":[{"type":"obj","desc":"café sign"}]}}',
  ], []]);
  const stdin = fakeIo({}, messy);
  assertEquals(await runCaption(["--canonical", "--pretty"], stdin.io), 0);
  assert(
    stdin.out[0].startsWith('{\n  "compositional_deconstruction": {\n    "background": "b",'),
    stdin.out[0],
  );
  const still = fakeIo({
    "s.json":
      '{"compositional_deconstruction":{"background":"b","elements":[{"type":"obj","desc":"d","bbox":[5,5,1,1]}]}}',
  });
  assertEquals(await runCaption(["--canonical", "s.json"], still.io), 2);
  assertEquals(still.out.length, 1);
  assertEquals(still.err, [
    "s.json: compositional_deconstruction.elements[0].bbox: y_min 5 is greater than y_max 1",
    "s.json: compositional_deconstruction.elements[0].bbox: x_min 5 is greater than x_max 1",
  ]);
  const broken = fakeIo({ "b.json": "{" });
  assertEquals(await runCaption(["--canonical", "b.json"], broken.io), 2);
  assertEquals(broken.err, [
    "b.json: invalid JSON at line 1, column 2: expected a key in double quotes, found end of input",
  ]);
  const missing = fakeIo();
  assertEquals(await runCaption(["--canonical", "nope.json"], missing.io), 2);
});

const env = (vars: Record<string, string>) => (name: string) => vars[name];
const noFiles = (path: string) => Promise.reject(new Error(`No such file: ${path}`));

Deno.test("prompt flags: flags win over environment; keys looked up as upstream does", async () => {
  const vars = {
    IDEOGRAM_API_KEY: "env-ideo",
    MAGIC_PROMPT_API_KEY: "env-magic",
    HIVE_TEXT_MODERATION_KEY: "env-hive-text",
    HIVE_VISUAL_MODERATION_KEY: "env-hive-visual",
  };
  // The hosted API (ideogram-4-v1, the default): MAGIC_PROMPT_API_KEY first, then IDEOGRAM_API_KEY.
  const hosted = (await parsePromptFlags([], env(vars), noFiles)).settings;
  assertEquals([
    hosted.magicPrompt.enabled,
    hosted.magicPrompt.config,
    hosted.magicPrompt.apiKey,
    hosted.magicPrompt.keepBboxes,
  ], [undefined, undefined, "env-magic", false]);
  const ideoOnly = (await parsePromptFlags([], env({ IDEOGRAM_API_KEY: "env-ideo" }), noFiles))
    .settings;
  assertEquals(ideoOnly.magicPrompt.apiKey, "env-ideo");
  assertEquals(hosted.moderation, {
    textKey: "env-hive-text",
    visualKey: "env-hive-visual",
    baseUrl: undefined,
  });
  const flagged = await parsePromptFlags(
    [
      "--magic-prompt-key",
      "flag-ideo",
      "--hive-text-key",
      "flag-hive",
      "--keep-bboxes",
      "--warn-on-caption-issues",
      "--magic-prompt",
      "p",
    ],
    env(vars),
    noFiles,
  );
  assertEquals(flagged.positionals, ["p"]);
  assertEquals([flagged.settings.magicPrompt.apiKey, flagged.settings.moderation.textKey], [
    "flag-ideo",
    "flag-hive",
  ]);
  assertEquals([
    flagged.settings.magicPrompt.enabled,
    flagged.settings.magicPrompt.keepBboxes,
    flagged.settings.warnOnCaptionIssues,
  ], [true, true, true]);
  // Upstream's OpenRouter configurations: named, they turn magic prompt on; never an Ideogram key.
  const opus = (await parsePromptFlags(
    ["--magic-prompt-model", "claude-opus-v1"],
    env(vars),
    noFiles,
  )).settings.magicPrompt;
  assertEquals([opus.enabled, opus.config, opus.apiKey, opus.model], [
    true,
    "claude-opus-v1",
    "env-magic",
    undefined,
  ]);
  const sonnet = (await parsePromptFlags(
    ["--magic-prompt-model", "claude-sonnet-v1"],
    env({ IDEOGRAM_API_KEY: "env-ideo" }),
    noFiles,
  )).settings;
  assertEquals(sonnet.magicPrompt.apiKey, undefined);
  assert(sonnet.warnings[0].includes("IDEOGRAM_API_KEY is not sent to OpenRouter"));
  // Any OpenAI-compatible server: the model is its own name; a plain prompt file.
  const openai = (await parsePromptFlags(
    [
      "--magic-prompt-url",
      "http://127.0.0.1:8080/v1",
      "--magic-prompt-model",
      "qwen",
      "--magic-prompt-system-file",
      "sys.txt",
    ],
    env(vars),
    (p) => p === "sys.txt" ? Promise.resolve("Be brief. {{aspect_ratio}}") : noFiles(p),
  )).settings.magicPrompt;
  assertEquals([openai.url, openai.model, openai.apiKey, openai.config, openai.template], [
    "http://127.0.0.1:8080/v1",
    "qwen",
    "env-magic",
    undefined,
    { system: "Be brief. {{aspect_ratio}}", fillSystem: true },
  ]);
  // The Ideogram key is never sent to another server.
  const local = (await parsePromptFlags(
    ["--magic-prompt-url", "http://h/v1", "--magic-prompt-model", "m"],
    env({ IDEOGRAM_API_KEY: "env-ideo" }),
    noFiles,
  )).settings;
  assertEquals(local.magicPrompt.apiKey, undefined);
  const off = (await parsePromptFlags(["--no-magic-prompt"], env(vars), noFiles)).settings;
  assertEquals(off.magicPrompt.enabled, false);
  const bases = (await parsePromptFlags(
    ["--hive-base-url", "http://127.0.0.1:1"],
    env({
      IDEOGRAM_API_BASE_URL: "http://127.0.0.1:2",
      OPENROUTER_API_BASE_URL: "http://127.0.0.1:3/api/v1",
      HIVE_API_BASE_URL: "x",
    }),
    noFiles,
  )).settings;
  assertEquals([
    bases.magicPrompt.ideogramBaseUrl,
    bases.magicPrompt.openRouterBaseUrl,
    bases.moderation.baseUrl,
  ], ["http://127.0.0.1:2", "http://127.0.0.1:3/api/v1", "http://127.0.0.1:1"]);
});

Deno.test("prompt flags: contradictions, unreadable files and unused keys are reported", async () => {
  await assertRejects(
    () => parsePromptFlags(["--magic-prompt", "--no-magic-prompt"], env({}), noFiles),
    "contradict",
  );
  await assertRejects(
    () => parsePromptFlags(["--magic-prompt-system-file", "gone.txt"], env({}), noFiles),
    "--magic-prompt-system-file gone.txt",
    "No such file",
  );
  await assertRejects(
    () =>
      parsePromptFlags(
        ["--magic-prompt-system-file", "e.txt"],
        env({}),
        () => Promise.resolve(" \n"),
      ),
    "is empty",
  );
  await assertRejects(
    () => parsePromptFlags(["--width", "5"], env({}), noFiles),
    "Unknown option '--width'",
  );
  const blank =
    (await parsePromptFlags([], env({ MAGIC_PROMPT_API_KEY: " ", IDEOGRAM_API_KEY: "" }), noFiles))
      .settings;
  assertEquals(blank.magicPrompt.apiKey, undefined, "blank variables count as unset");
  assertEquals(blank.warnings, []);
  await assertRejects(
    () => parsePromptFlags(["--magic-prompt-model", "gpt-4o"], env({}), noFiles),
    "--magic-prompt-model gpt-4o",
    "claude-opus-v1",
    "--magic-prompt-url",
  );
  await assertRejects(
    () =>
      parsePromptFlags(
        ["--magic-prompt-system-file", "s.txt"],
        env({}),
        () => Promise.resolve("[META]\nx\n[SYSTEM]\n\n[USER]\n{{original_prompt}}"),
      ),
    "--magic-prompt-system-file s.txt",
    "[SYSTEM] section is empty",
  );
  const hostedFile = (await parsePromptFlags(
    ["--magic-prompt-system-file", "s.txt"],
    env({}),
    () => Promise.resolve("Be brief."),
  )).settings;
  assertEquals(hostedFile.warnings.length, 1);
  assert(hostedFile.warnings[0].includes("applies to chat backends"), hostedFile.warnings[0]);
  // A generate command spreads the flags into its own options.
  const { values } = parseArgs({
    args: ["--width", "5", "--no-magic-prompt"],
    options: { ...MAGIC_PROMPT_FLAGS, width: { type: "string" } },
  });
  assertEquals(
    (await promptSettingsFromFlags(values, env({}), noFiles)).magicPrompt.enabled,
    false,
  );
});

Deno.test("prompt flags: keys are trimmed, never echoed, and hidden in what a service echoes", async () => {
  const KEY = "hive-KEY-7f3a91c2";
  const { settings } = await parsePromptFlags(["--hive-text-key", `  ${KEY} \n`], env({}), noFiles);
  assertEquals(settings.moderation.textKey, KEY);
  // A service (or proxy) that quotes the request's Authorization header back.
  const echo = (req: Recorded) => ({
    status: 401,
    text: `invalid credentials: ${req.headers.get("authorization")}`,
  });
  await withServer([echo], async (url) => {
    const e = await assertRejects(
      () => screenPrompt("x", { ...settings.moderation, baseUrl: url, retry: FAST_RETRY }),
      "HTTP 401",
      "invalid credentials",
    );
    assert(!e.message.includes(KEY) && !e.message.includes("7f3a91c2"), e.message);
  });
  const inner = await assertRejects(
    () => parsePromptFlags(["--hive-visual-key", "abc def-secret"], env({}), noFiles),
    "--hive-visual-key: the key contains spaces",
  );
  assert(!inner.message.includes("def-secret"), inner.message);
  await assertRejects(
    () => parsePromptFlags([], env({ IDEOGRAM_API_KEY: "x\ty-secret-key" }), noFiles),
    "IDEOGRAM_API_KEY: the key contains",
  );
});

Deno.test("prompt flags: IDEOGRAM4_SERVICE_TIMEOUT sets every service timeout", async () => {
  const { settings } = await parsePromptFlags(
    [],
    env({ IDEOGRAM4_SERVICE_TIMEOUT: "2.5" }),
    noFiles,
  );
  assertEquals([settings.magicPrompt.timeoutMs, settings.moderation.timeoutMs], [2500, 2500]);
  const e = await assertRejects(
    () => parsePromptFlags([], env({ IDEOGRAM4_SERVICE_TIMEOUT: "never" }), noFiles),
    "IDEOGRAM4_SERVICE_TIMEOUT=never",
  );
  assert(e instanceof UsageError && e.exitCode === 2);
  // A stalled service fails within it, naming the host and the variable.
  await withServer([{ hang: true }], async (url) => {
    await assertRejects(
      () =>
        screenPrompt("x", { textKey: "k-123456", baseUrl: url, timeoutMs: 150, retry: FAST_RETRY }),
      "no reply within 0.15 s from 127.0.0.1",
      "IDEOGRAM4_SERVICE_TIMEOUT",
    );
  });
});
