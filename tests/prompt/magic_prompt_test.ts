import { assert, assertEquals, assertRejects } from "../assert.ts";
import { MagicPromptConfigError, MagicPromptError } from "../../src/prompt/errors.ts";
import {
  aspectRatio,
  chatCompletionsUrl,
  extractJsonText,
  hostedAspectRatio,
  IdeogramMagicPrompt,
  MAGIC_PROMPT_CONFIGS,
  OpenAiMagicPrompt,
  OPENROUTER_API_BASE_URL,
  openRouterMagicPrompt,
} from "../../src/prompt/magic_prompt.ts";
import {
  DEFAULT_SYSTEM_PROMPT,
  magicPromptMessages,
  parseMagicPromptFile,
} from "../../src/prompt/system_prompt.ts";
import { verifyCaption } from "../../src/prompt/verify.ts";
import { copy, PHOTO_CAPTION, text } from "./examples.ts";
import { FAST_RETRY, withServer } from "./local_server.ts";

const KEY = "ideo-key-5f2b8c1e9d";
const OPENAI_KEY = "sk-or-abcdef0123456789";

/** PHOTO_CAPTION as a service might send it: keys shuffled at every level, aspect_ratio inside. */
function answer(): Record<string, unknown> {
  const c = PHOTO_CAPTION, s = c.style_description;
  const [box, cat] = c.compositional_deconstruction.elements;
  return {
    aspect_ratio: "16:9",
    compositional_deconstruction: {
      elements: [
        { desc: box.desc, bbox: box.bbox, type: "obj" },
        { color_palette: cat.color_palette, type: "obj", desc: cat.desc, bbox: cat.bbox },
      ],
      background: c.compositional_deconstruction.background,
    },
    style_description: {
      medium: s.medium,
      photo: s.photo,
      color_palette: s.color_palette,
      lighting: s.lighting,
      aesthetics: s.aesthetics,
    },
    high_level_description: c.high_level_description,
  };
}

/** PHOTO_CAPTION in canonical form, with or without its bboxes. */
function expected(keepBboxes: boolean): string {
  const c = copy(PHOTO_CAPTION);
  if (!keepBboxes) {
    for (const el of c.compositional_deconstruction.elements) {
      delete (el as { bbox?: unknown }).bbox;
    }
  }
  return text(c);
}

const ideogram = (baseUrl: string, extra = {}) =>
  new IdeogramMagicPrompt({ apiKey: KEY, baseUrl, timeoutMs: 1000, retry: FAST_RETRY, ...extra });
const openai = (url: string, extra = {}) =>
  new OpenAiMagicPrompt({
    url,
    model: "test-model",
    apiKey: OPENAI_KEY,
    timeoutMs: 1000,
    retry: FAST_RETRY,
    ...extra,
  });

/** A failure that must be a MagicPromptError naming the service, without the keys. */
async function magicError(
  fn: () => Promise<unknown>,
  ...parts: string[]
): Promise<MagicPromptError> {
  const e = await assertRejects(fn, ...parts);
  assert(e instanceof MagicPromptError, `${e.name}: ${e.message}`);
  assert(!e.message.includes(KEY) && !e.message.includes(OPENAI_KEY), `a key leaked: ${e.message}`);
  return e;
}

Deno.test("aspect ratio: reduced W:H, and WxH for the hosted API", () => {
  assertEquals(aspectRatio(1024, 576), "16:9");
  assertEquals(aspectRatio(1024, 1024), "1:1");
  assertEquals(aspectRatio(1000, 600), "5:3");
  assertEquals(aspectRatio(832, 1248), "2:3");
  assertEquals(hostedAspectRatio("16:9"), "16x9");
  assertEquals(hostedAspectRatio("auto"), "AUTO");
  let msg = "";
  try {
    aspectRatio(0, 10);
  } catch (e) {
    msg = (e as Error).message;
  }
  assertEquals(msg, "width must be a positive integer, got 0");
});

Deno.test("Ideogram magic prompt: request, then bboxes stripped, aspect_ratio dropped, keys reordered", async () => {
  await withServer(
    [{ json: { aspect_ratio: "16x9", json_prompt: answer() } }],
    async (url, requests) => {
      const caption = await ideogram(url).expand("a cat in a window box", "16:9");
      assertEquals(caption, expected(false));
      assertEquals(verifyCaption(caption), []);
      const req = requests[0];
      assertEquals([req.method, req.path], ["POST", "/v1/ideogram-v4/magic-prompt"]);
      assertEquals(req.headers.get("api-key"), KEY);
      assertEquals(req.headers.get("authorization"), null);
      assertEquals(req.headers.get("content-type"), "application/json");
      assertEquals(JSON.parse(req.body), {
        text_prompt: "a cat in a window box",
        aspect_ratio: "16x9",
      });
    },
  );
});

Deno.test("Ideogram magic prompt: keepBboxes keeps them; json_prompt may come as a string", async () => {
  await withServer([{ json: { json_prompt: JSON.stringify(answer()) } }], async (url) => {
    assertEquals(await ideogram(url, { keepBboxes: true }).expand("x", "1:1"), expected(true));
  });
});

Deno.test("Ideogram magic prompt: 429 then 200 retries; errors carry status and message", async () => {
  await withServer([{ status: 429, json: { message: "rate limited" } }, {
    json: { json_prompt: answer() },
  }], async (url, requests) => {
    assertEquals(await ideogram(url).expand("x", "1:1"), expected(false));
    assertEquals(requests.length, 2);
  });
  await withServer(
    [{ status: 401, json: { message: "Invalid Api-Key" } }],
    async (url, requests) => {
      const e = await magicError(
        () => ideogram(url).expand("x", "1:1"),
        "Ideogram magic prompt: HTTP 401: Invalid Api-Key",
      );
      assertEquals([e.status, e.exitCode, requests.length], [401, 1, 1]);
    },
  );
  await withServer(
    [{ status: 400, json: { error: "aspect_ratio 7x3 is not supported" } }],
    async (url) => {
      await magicError(
        () => ideogram(url).expand("x", "7:3"),
        "HTTP 400: aspect_ratio 7x3 is not supported",
      );
    },
  );
  await withServer([{ status: 500, text: "internal error" }], async (url, requests) => {
    await magicError(() => ideogram(url).expand("x", "1:1"), "HTTP 500: internal error");
    assertEquals(requests.length, 3);
  });
  await withServer([{ text: "<html>not json" }], async (url) => {
    await magicError(() => ideogram(url).expand("x", "1:1"), "HTTP 200: reply is not valid JSON");
  });
  await withServer([{ json: { aspect_ratio: "1x1" } }], async (url) => {
    await magicError(() => ideogram(url).expand("x", "1:1"), "the reply has no json_prompt");
  });
  await withServer([{ json: { json_prompt: "[1, 2]" } }], async (url) => {
    await magicError(() => ideogram(url).expand("x", "1:1"), "not a JSON object");
  });
  await withServer([{ hang: true }], async (url) => {
    await magicError(
      () => ideogram(url, { timeoutMs: 150 }).expand("x", "1:1"),
      "no reply within 0.15 s",
    );
  });
});

Deno.test("OpenAI-compatible magic prompt: request with our system prompt; fenced answer cleaned", async () => {
  const content = "```json\n" + JSON.stringify(answer(), null, 2) + "\n```";
  const reply = { choices: [{ message: { role: "assistant", content }, finish_reason: "stop" }] };
  await withServer([{ json: reply }], async (url, requests) => {
    const caption = await openai(`${url}/v1/`).expand("a cat in a window box", "16:9");
    assertEquals(caption, expected(false));
    const req = requests[0];
    assertEquals(req.path, "/v1/chat/completions");
    assertEquals(req.headers.get("authorization"), `Bearer ${OPENAI_KEY}`);
    const body = JSON.parse(req.body);
    assertEquals(body.model, "test-model");
    assertEquals(body.messages.map((m: { role: string }) => m.role), ["system", "user"]);
    assertEquals(body.messages[0].content, DEFAULT_SYSTEM_PROMPT);
    assert(body.messages[1].content.includes("16:9"), body.messages[1].content);
    assert(body.messages[1].content.endsWith("a cat in a window box"), body.messages[1].content);
  });
});

Deno.test("OpenAI-compatible magic prompt: own system prompt, no key, full URL, chatter around the JSON", async () => {
  const content = `Sure! Here is the caption: ${JSON.stringify(answer())} Enjoy.`;
  await withServer([{ json: { choices: [{ message: { content } }] } }], async (url, requests) => {
    const backend = openai(`${url}/api/chat/completions`, {
      apiKey: undefined,
      template: parseMagicPromptFile("Ratio {{aspect_ratio}}."),
      keepBboxes: true,
    });
    assertEquals(await backend.expand("x", "2:3"), expected(true));
    assertEquals(requests[0].path, "/api/chat/completions");
    assertEquals(requests[0].headers.get("authorization"), null);
    assertEquals(JSON.parse(requests[0].body).messages[0].content, "Ratio 2:3.");
  });
});

Deno.test("OpenAI-compatible magic prompt: failures", async () => {
  await withServer([{
    status: 400,
    json: { error: { message: "model 'test-model' not found", type: "invalid_request_error" } },
  }], async (url) => {
    const e = await magicError(
      () => openai(url).expand("x", "1:1"),
      "test-model at 127.0.0.1",
      "HTTP 400: model 'test-model' not found",
    );
    assertEquals(e.status, 400);
  });
  await withServer([{
    status: 401,
    json: { error: { message: `Incorrect API key provided: ${OPENAI_KEY}` } },
  }], async (url) => {
    await magicError(
      () => openai(url).expand("x", "1:1"),
      "HTTP 401: Incorrect API key provided: ***",
    );
  });
  await withServer([{ status: 429, text: "" }, { status: 429, text: "" }, {
    status: 429,
    text: "",
  }], async (url, requests) => {
    await magicError(() => openai(url).expand("x", "1:1"), "HTTP 429");
    assertEquals(requests.length, 3);
  });
  await withServer([{ json: { choices: [] } }], async (url) => {
    await magicError(() => openai(url).expand("x", "1:1"), "the reply has no message content");
  });
  const cut = {
    choices: [{ message: { content: '{"high_level_description":"a ca' }, finish_reason: "length" }],
  };
  await withServer([{ json: cut }], async (url) => {
    await magicError(
      () => openai(url).expand("x", "1:1"),
      "not a JSON caption",
      "unterminated string",
      "finish_reason length",
    );
  });
  await withServer([{ text: "{{{" }], async (url) => {
    await magicError(() => openai(url).expand("x", "1:1"), "reply is not valid JSON");
  });
  await withServer([{ hang: true }], async (url) => {
    await magicError(
      () => openai(url, { timeoutMs: 150 }).expand("x", "1:1"),
      "no reply within 0.15 s",
    );
  });
});

Deno.test("OpenAI-compatible magic prompt: configuration errors", async () => {
  const e = await assertRejects(
    () => new OpenAiMagicPrompt({ url: "http://127.0.0.1:1/v1", model: "" }),
    "needs a model name",
  );
  assert(e instanceof MagicPromptConfigError && e.exitCode === 2);
  await assertRejects(
    () => new OpenAiMagicPrompt({ url: "localhost:8080", model: "m" }),
    "must be an http(s) URL",
  );
  await assertRejects(
    () => new OpenAiMagicPrompt({ url: "not a url", model: "m" }),
    "not a valid URL",
  );
  assertEquals(chatCompletionsUrl("http://h:1/v1"), "http://h:1/v1/chat/completions");
  assertEquals(
    chatCompletionsUrl("https://h/v1/chat/completions/"),
    "https://h/v1/chat/completions",
  );
  assertEquals(chatCompletionsUrl("http://h:1"), "http://h:1/chat/completions");
});

Deno.test("magic prompt answers: fences and chatter", () => {
  assertEquals(extractJsonText('```json\n{"a":1}\n```'), '{"a":1}');
  assertEquals(extractJsonText('```\n{"a":1}```'), '{"a":1}');
  assertEquals(extractJsonText('Here:\n```JSON\n{"a":1}\n```\nDone'), '{"a":1}');
  assertEquals(extractJsonText('  {"a":1}  '), '{"a":1}');
  assertEquals(extractJsonText('The caption is {"a":{"b":2}}.'), '{"a":{"b":2}}');
  assertEquals(extractJsonText("no json here"), "no json here");
});

Deno.test("OpenRouter configurations: upstream's model ids, parameters and messages; the final caption", async () => {
  const content = JSON.stringify(answer());
  const reply = { choices: [{ message: { role: "assistant", content }, finish_reason: "stop" }] };
  for (
    const [name, model] of [
      ["claude-sonnet-v1", "anthropic/claude-sonnet-4.6"],
      ["claude-opus-v1", "anthropic/claude-opus-4.8"],
    ] as const
  ) {
    await withServer([{ json: reply }], async (url, requests) => {
      const backend = openRouterMagicPrompt(name, {
        apiKey: OPENAI_KEY,
        baseUrl: `${url}/api/v1`,
        timeoutMs: 1000,
        retry: FAST_RETRY,
      });
      assertEquals(backend.name, `magic prompt ${name} (${model} on OpenRouter)`);
      // aspect_ratio dropped, bboxes dropped, canonical order: the caption the model gets.
      assertEquals(await backend.expand("a cat in a window box", "16:9"), expected(false));
      assertEquals(requests.length, 1);
      assertEquals(requests[0].path, "/api/v1/chat/completions");
      assertEquals(requests[0].headers.get("authorization"), `Bearer ${OPENAI_KEY}`);
      const body = JSON.parse(requests[0].body);
      assertEquals(body, {
        model,
        messages: [
          { role: "system", content: DEFAULT_SYSTEM_PROMPT },
          {
            role: "user",
            content:
              "Aspect ratio of the image (width:height): 16:9\n\nIdea:\na cat in a window box",
          },
        ],
        max_tokens: 16384,
        temperature: 1,
        reasoning: { enabled: false },
      });
    });
  }
  assertEquals(OPENROUTER_API_BASE_URL, "https://openrouter.ai/api/v1");
  assertEquals(Object.keys(MAGIC_PROMPT_CONFIGS), [
    "ideogram-4-v1",
    "claude-sonnet-v1",
    "claude-opus-v1",
  ]);
  await assertRejects(
    () => Promise.resolve().then(() => openRouterMagicPrompt("claude-opus-v1", { apiKey: "" })),
    "needs an OpenRouter key",
  );
});

Deno.test("magic prompt files: upstream's sectioned form and plain text", () => {
  // Upstream's layout: [META] ignored, [SYSTEM] as written, [USER] with its placeholders.
  const sectioned = "[META]\nversion: 9\n\n[SYSTEM]\nMake a caption for {{aspect_ratio}}.\n" +
    "[ y ] stays text (a space inside)\n\n[USER]\nRATIO {{aspect_ratio}} / IDEA {{original_prompt}}\n";
  const t = parseMagicPromptFile(sectioned);
  assertEquals(t, {
    system: "Make a caption for {{aspect_ratio}}.\n[ y ] stays text (a space inside)",
    user: "RATIO {{aspect_ratio}} / IDEA {{original_prompt}}",
    fillSystem: false,
  });
  assertEquals(magicPromptMessages(t, "a $& cat", "4:5"), [
    {
      role: "system",
      content: "Make a caption for {{aspect_ratio}}." + "\n[ y ] stays text (a space inside)",
    },
    { role: "user", content: "RATIO 4:5 / IDEA a $& cat" },
  ]);
  // A [USER] template without the idea's placeholder: the idea follows after a blank line.
  const noIdea = parseMagicPromptFile("[system]\nS\n[USER]\nRatio {{aspect_ratio}}.");
  assertEquals(magicPromptMessages(noIdea, "a cat", "1:1")[1].content, "Ratio 1:1.\n\na cat");
  // No [USER] section: our user message.
  const systemOnly = parseMagicPromptFile("\r\n[SYSTEM]\r\nS\r\n");
  assertEquals(magicPromptMessages(systemOnly, "a cat", "3:2"), [
    { role: "system", content: "S" },
    { role: "user", content: "Aspect ratio of the image (width:height): 3:2\n\nIdea:\na cat" },
  ]);
  // Plain text: all of it is the system prompt, with the ratio filled in.
  assertEquals(
    magicPromptMessages(parseMagicPromptFile("Be brief: {{aspect_ratio}}"), "x", "2:1")[0],
    {
      role: "system",
      content: "Be brief: 2:1",
    },
  );
  for (
    const [text, message] of [[" \n", "is empty"], [
      "[SYSTEM]\n\n[USER]\nu",
      "[SYSTEM] section is empty",
    ]]
  ) {
    let err: unknown;
    try {
      parseMagicPromptFile(text, "f.txt");
    } catch (e) {
      err = e;
    }
    assert(err instanceof Error && err.message.includes(message), String(err));
  }
});

Deno.test("our system prompt asks for upstream's v1 caption shape", () => {
  const shape =
    /\{"aspect_ratio":"W:H","high_level_description":"…","compositional_deconstruction":/;
  assert(shape.test(DEFAULT_SYSTEM_PROMPT), "aspect ratio, high-level description, composition");
  assert(DEFAULT_SYSTEM_PROMPT.includes("No style_description"));
  assert(!DEFAULT_SYSTEM_PROMPT.includes('"style_description":{'));
});
