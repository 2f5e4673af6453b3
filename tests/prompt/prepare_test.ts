import { assert, assertEquals, assertRejects } from "../assert.ts";
import {
  CaptionInvalidError,
  MagicPromptConfigError,
  MagicPromptError,
  ModerationFlaggedError,
  PromptRejectedError,
} from "../../src/prompt/errors.ts";
import { TEXT_SCREENING_OFF } from "../../src/prompt/moderation.ts";
import { PLAIN_TEXT_WARNING } from "../../src/prompt/check.ts";
import { preparePrompt, type PreparePromptOptions } from "../../src/prompt/prepare.ts";
import { copy, DESIGN_CAPTION, PHOTO_CAPTION, text } from "./examples.ts";
import { FAST_RETRY, type Recorded, type Reply, withServer } from "./local_server.ts";

const IDEOGRAM_KEY = "ideo-key-prepare-0001";
const OPENAI_KEY = "sk-prepare-0002";
const HIVE_KEY = "hive-prepare-0003";

/** One local server playing Ideogram, an OpenAI-compatible endpoint and Hive. */
function services(
  opts: { caption?: unknown; flagText?: (text: string) => boolean; ideogramStatus?: number } = {},
) {
  const caption = opts.caption ?? PHOTO_CAPTION;
  return (req: Recorded): Reply => {
    if (req.path === "/v1/ideogram-v4/magic-prompt") {
      if (opts.ideogramStatus) {
        return { status: opts.ideogramStatus, json: { message: "Invalid Api-Key" } };
      }
      return { json: { aspect_ratio: "16x9", json_prompt: caption } };
    }
    if (req.path === "/v1/chat/completions") {
      return {
        json: {
          choices: [{ message: { content: "```json\n" + JSON.stringify(caption) + "\n```" } }],
        },
      };
    }
    if (req.path === "/api/v3/hive/text-moderation") {
      const t = JSON.parse(req.body).input[0].text as string;
      return {
        json: { output: [{ classes: [{ class: "violence", value: opts.flagText?.(t) ? 3 : 0 }] }] },
      };
    }
    return { status: 404, text: "no such path" };
  };
}

function options(url: string, extra: Partial<PreparePromptOptions> = {}): PreparePromptOptions {
  return {
    prompt: "a cat asleep in a window box",
    width: 1024,
    height: 576,
    magicPrompt: {
      apiKey: IDEOGRAM_KEY,
      ideogramBaseUrl: url,
      timeoutMs: 1000,
      retry: FAST_RETRY,
    },
    moderation: { textKey: HIVE_KEY, baseUrl: url, timeoutMs: 1000, retry: FAST_RETRY },
    ...extra,
  };
}

const withoutBboxes = (c: unknown) => {
  const out = copy(c) as { compositional_deconstruction: { elements: { bbox?: unknown }[] } };
  for (const el of out.compositional_deconstruction.elements) delete el.bbox;
  return text(out);
};

Deno.test("prepare: plain text goes as is, never silently; without keys screening is off", async () => {
  const r = await preparePrompt({
    prompt: "a golden retriever on a skateboard",
    width: 1024,
    height: 1024,
  });
  assertEquals([r.prompt, r.isJson, r.aspectRatio, r.magicPrompt, r.screened], [
    "a golden retriever on a skateboard",
    false,
    "1:1",
    undefined,
    false,
  ]);
  assertEquals(r.warnings, [PLAIN_TEXT_WARNING, TEXT_SCREENING_OFF]);
});

Deno.test("prepare: a JSON caption is verified and sent exactly as written", async () => {
  const pretty = JSON.stringify(DESIGN_CAPTION, null, 2);
  const r = await preparePrompt({ prompt: pretty, width: 768, height: 1024 });
  assertEquals([r.prompt, r.isJson, r.aspectRatio, r.warnings], [pretty, true, "3:4", [
    TEXT_SCREENING_OFF,
  ]]);
});

Deno.test("prepare: caption issues stop the prompt, or become warnings when asked", async () => {
  const bad = copy(DESIGN_CAPTION) as { style_description: Record<string, unknown> };
  bad.style_description.photo = "35mm";
  const e = await assertRejects(
    () => preparePrompt({ prompt: text(bad), width: 512, height: 512 }),
    "the prompt is not a valid Ideogram 4 caption",
    "style_description: has both 'photo' and 'art_style'",
    "--warn-on-caption-issues",
  );
  assert(e instanceof CaptionInvalidError && e.exitCode === 2 && e.issues.length === 1, e.message);
  const r = await preparePrompt({
    prompt: text(bad),
    width: 512,
    height: 512,
    warnOnCaptionIssues: true,
  });
  assertEquals(r.captionIssues.map((i) => i.rule), ["photo-or-art-style"]);
  assert(
    r.warnings.includes(
      "caption: style_description: has both 'photo' and 'art_style'; keep exactly one",
    ),
  );
  // Sent as written (upstream tokenizes what it is given), not re-ordered.
  assertEquals(r.prompt, text(bad));
  // Broken JSON with warnings on goes as written.
  const broken = '{"compositional_deconstruction": {"background": "b",}}';
  const b = await preparePrompt({
    prompt: broken,
    width: 512,
    height: 512,
    warnOnCaptionIssues: true,
  });
  assertEquals([b.prompt, b.captionIssues[0].rule], [broken, "json"]);
});

Deno.test("prepare: magic prompt asked for without a key names the three ways out", async () => {
  const e = await assertRejects(
    () => preparePrompt({ prompt: "x", width: 512, height: 512, magicPrompt: { enabled: true } }),
    "--magic-prompt-key",
    "IDEOGRAM_API_KEY",
    "--magic-prompt-url",
    "MAGIC_PROMPT_API_KEY",
    "--no-magic-prompt",
  );
  assert(e instanceof MagicPromptConfigError && e.exitCode === 2);
  await assertRejects(
    () =>
      preparePrompt({
        prompt: "x",
        width: 512,
        height: 512,
        magicPrompt: { url: "http://127.0.0.1:9/v1" },
      }),
    "needs a model name",
  );
});

Deno.test("prepare: hosted magic prompt by default with a key; prompt and caption both screened", async () => {
  await withServer([services()], async (url, requests) => {
    const status: string[] = [];
    const r = await preparePrompt(options(url, { onStatus: (l) => status.push(l) }));
    assertEquals(r.prompt, withoutBboxes(PHOTO_CAPTION));
    assertEquals([r.magicPrompt, r.aspectRatio, r.isJson, r.screened, r.warnings], [
      "Ideogram magic prompt",
      "16:9",
      true,
      true,
      [],
    ]);
    assertEquals(requests.map((q) => q.path), [
      "/api/v3/hive/text-moderation",
      "/v1/ideogram-v4/magic-prompt",
      "/api/v3/hive/text-moderation",
    ]);
    assertEquals(JSON.parse(requests[0].body).input[0].text, "a cat asleep in a window box");
    assertEquals(JSON.parse(requests[1].body), {
      text_prompt: "a cat asleep in a window box",
      aspect_ratio: "16x9",
    });
    assertEquals(JSON.parse(requests[2].body).input[0].text, r.prompt);
    assertEquals(status[0], "Ideogram magic prompt: expanding the prompt for 16:9");
  });
});

Deno.test("prepare: --magic-prompt-url selects the OpenAI-compatible backend; keepBboxes keeps boxes", async () => {
  await withServer([services()], async (url, requests) => {
    const r = await preparePrompt(options(url, {
      magicPrompt: {
        url: `${url}/v1`,
        model: "m",
        apiKey: OPENAI_KEY,
        keepBboxes: true,
        timeoutMs: 1000,
      },
      moderation: undefined,
    }));
    assertEquals(r.prompt, text(PHOTO_CAPTION));
    assertEquals(r.magicPrompt, `magic prompt (m at ${new URL(url).host})`);
    assertEquals(requests.map((q) => q.path), ["/v1/chat/completions"]);
    assertEquals(requests[0].headers.get("authorization"), `Bearer ${OPENAI_KEY}`);
    assertEquals(r.warnings, [TEXT_SCREENING_OFF]);
  });
});

Deno.test("prepare: a JSON prompt skips automatic magic prompt; --no-magic-prompt skips it always", async () => {
  await withServer([services()], async (url, requests) => {
    const r = await preparePrompt(options(url, { prompt: text(DESIGN_CAPTION) }));
    assertEquals([r.prompt, r.magicPrompt], [text(DESIGN_CAPTION), undefined]);
    assertEquals(r.notes, ["the prompt is already a JSON caption: Ideogram magic prompt skipped"]);
    const n = await preparePrompt(
      options(url, {
        magicPrompt: { enabled: false, apiKey: IDEOGRAM_KEY, ideogramBaseUrl: url },
      }),
    );
    assertEquals([n.prompt, n.magicPrompt], ["a cat asleep in a window box", undefined]);
    assertEquals(requests.map((q) => q.path), [
      "/api/v3/hive/text-moderation",
      "/api/v3/hive/text-moderation",
    ]);
  });
});

Deno.test("prepare: moderation stops a flagged prompt before the magic prompt, and a flagged caption after", async () => {
  await withServer([services({ flagText: (t) => t.includes("cat") })], async (url, requests) => {
    const e = await assertRejects(
      () => preparePrompt(options(url)),
      "prompt rejected by Hive text moderation",
      "violence: 3",
    );
    assert(e instanceof ModerationFlaggedError && e.exitCode === 2);
    assertEquals(requests.map((q) => q.path), ["/api/v3/hive/text-moderation"]);
  });
  await withServer(
    [services({ flagText: (t) => t.includes("geraniums") })],
    async (url, requests) => {
      await assertRejects(() => preparePrompt(options(url)), "violence: 3");
      assertEquals(requests.length, 3);
    },
  );
});

Deno.test("prepare: an invalid magic prompt caption and service failures are reported, keys hidden", async () => {
  const bad = copy(PHOTO_CAPTION) as {
    compositional_deconstruction: { elements: { type: string }[] };
  };
  bad.compositional_deconstruction.elements[0].type = "image";
  await withServer([services({ caption: bad })], async (url) => {
    const e = await assertRejects(
      () => preparePrompt(options(url)),
      "the caption from Ideogram magic prompt is not a valid Ideogram 4 caption",
      "compositional_deconstruction.elements[0].type",
      "--no-magic-prompt",
    );
    // The service wrote it, not the user: a service fault, exit 1.
    assert(e instanceof CaptionInvalidError && e.exitCode === 1, e.message);
  });
  await withServer([services({ ideogramStatus: 401 })], async (url) => {
    const e = await assertRejects(
      () => preparePrompt(options(url)),
      "Ideogram magic prompt: HTTP 401: Invalid Api-Key",
    );
    assert(e instanceof MagicPromptError && e.exitCode === 1 && !e.message.includes(IDEOGRAM_KEY));
  });
});

Deno.test("prepare: empty prompts and bad sizes are refused", async () => {
  const e = await assertRejects(
    () => preparePrompt({ prompt: "  ", width: 512, height: 512 }),
    "the prompt is empty",
  );
  assert(e instanceof PromptRejectedError);
  await assertRejects(
    () => preparePrompt({ prompt: "x", width: 512.5, height: 512 }),
    "width must be a positive integer",
  );
});
