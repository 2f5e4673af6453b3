import { assert, assertEquals, assertRejects } from "../assert.ts";
import { ModerationFlaggedError, ModerationServiceError } from "../../src/prompt/errors.ts";
import {
  IMAGE_SCREENING_OFF,
  screenImage,
  screenPrompt,
  TEXT_SCREENING_OFF,
} from "../../src/prompt/moderation.ts";
import { FAST_RETRY, withServer } from "./local_server.ts";

const TEXT_KEY = "hive-text-7d1c5e2a9b";
const VISUAL_KEY = "hive-visual-3e8f0a6c4d";
/** Not a real image: moderation only forwards bytes. */
const PNG = new Uint8Array([
  0x89,
  0x50,
  0x4e,
  0x47,
  0x0d,
  0x0a,
  0x1a,
  0x0a,
  1,
  2,
  3,
  250,
  251,
  252,
]);

const textSettings = (baseUrl: string, extra = {}) => ({
  textKey: TEXT_KEY,
  baseUrl,
  timeoutMs: 1000,
  retry: FAST_RETRY,
  ...extra,
});
const visualSettings = (baseUrl: string, extra = {}) => ({
  visualKey: VISUAL_KEY,
  baseUrl,
  timeoutMs: 1000,
  retry: FAST_RETRY,
  ...extra,
});

const hiveReply = (classes: [string, number][]) => ({
  status: { code: "0", message: "SUCCESS" },
  output: [{ time: 0, classes: classes.map(([c, value]) => ({ class: c, value })) }],
});

async function serviceError(
  fn: () => Promise<unknown>,
  ...parts: string[]
): Promise<ModerationServiceError> {
  const e = await assertRejects(fn, ...parts);
  assert(e instanceof ModerationServiceError, `${e.name}: ${e.message}`);
  assert(
    !e.message.includes(TEXT_KEY) && !e.message.includes(VISUAL_KEY),
    `a key leaked: ${e.message}`,
  );
  return e;
}

Deno.test("Hive text: flagged classes at or above 1 stop the prompt, listed as class: score", async () => {
  const classes: [string, number][] = [["sexual", 2], ["violence", 1], ["hate", 0], ["spam", 3], [
    "drugs",
    0,
  ]];
  await withServer([{ json: hiveReply(classes) }], async (url, requests) => {
    const e = await assertRejects(
      () => screenPrompt("some prompt", textSettings(url)),
      "prompt rejected by Hive text moderation",
    );
    assert(e instanceof ModerationFlaggedError);
    assertEquals(e.flags, [{ class: "sexual", score: 2 }, { class: "violence", score: 1 }]);
    assertEquals([e.stage, e.exitCode], ["prompt", 2]);
    assert(e.message.endsWith("\n  sexual: 2\n  violence: 1"), e.message);
    const req = requests[0];
    assertEquals([req.method, req.path], ["POST", "/api/v3/hive/text-moderation"]);
    assertEquals(req.headers.get("authorization"), `Bearer ${TEXT_KEY}`);
    assertEquals(req.headers.get("content-type"), "application/json");
    assertEquals(JSON.parse(req.body), { input: [{ text: "some prompt" }] });
  });
});

Deno.test("Hive text: a clean prompt passes; without a key screening is off with a warning", async () => {
  await withServer([{ json: hiveReply([["sexual", 0], ["spam", 3]]) }], async (url, requests) => {
    assertEquals(await screenPrompt("a kite", textSettings(url)), { screened: true, warnings: [] });
    assertEquals(requests.length, 1);
  });
  assertEquals(await screenPrompt("a kite", {}), {
    screened: false,
    warnings: [TEXT_SCREENING_OFF],
  });
  assert(
    TEXT_SCREENING_OFF.includes("HIVE_TEXT_MODERATION_KEY") &&
      TEXT_SCREENING_OFF.includes("--hive-text-key"),
  );
});

Deno.test("Hive visual: PNG sent as multipart media; classes at or above 0.9 flag the image", async () => {
  const classes: [string, number][] = [["general_nsfw", 0.95], ["yes_nazi", 0.89], [
    "no_nsfw",
    0.99,
  ], ["very_bloody", 0.9]];
  await withServer([{ json: hiveReply(classes) }], async (url, requests) => {
    const e = await assertRejects(
      () => screenImage(PNG, visualSettings(url)),
      "image rejected by Hive visual moderation",
    );
    assert(e instanceof ModerationFlaggedError);
    assertEquals(e.flags, [{ class: "general_nsfw", score: 0.95 }, {
      class: "very_bloody",
      score: 0.9,
    }]);
    assertEquals([e.stage, e.exitCode], ["image", 2]);
    const req = requests[0];
    assertEquals(req.path, "/api/v3/hive/visual-moderation");
    assertEquals(req.headers.get("authorization"), `Bearer ${VISUAL_KEY}`);
    assert(req.headers.get("content-type")!.startsWith("multipart/form-data; boundary="));
    const media = req.form!.get("media");
    assert(media instanceof File, "media is a file part");
    assertEquals([media.name, media.type], ["image.png", "image/png"]);
    assertEquals([...new Uint8Array(await media.arrayBuffer())], [...PNG]);
  });
  await withServer([{ json: hiveReply([["general_nsfw", 0.1]]) }], async (url) => {
    assertEquals(await screenImage(PNG, visualSettings(url)), { screened: true, warnings: [] });
  });
  assertEquals(await screenImage(PNG, {}), { screened: false, warnings: [IMAGE_SCREENING_OFF] });
});

Deno.test("Hive: 429 then 200 retries; 401, 500, malformed replies and timeouts are errors", async () => {
  await withServer(
    [{ status: 429, text: "" }, { json: hiveReply([["hate", 0]]) }],
    async (url, requests) => {
      assertEquals((await screenPrompt("x", textSettings(url))).screened, true);
      assertEquals(requests.length, 2);
    },
  );
  await withServer([{
    status: 401,
    json: { status: { code: 401, message: "Invalid token" }, message: "Invalid token" },
  }], async (url, requests) => {
    const e = await serviceError(
      () => screenPrompt("x", textSettings(url)),
      "Hive text moderation: HTTP 401: Invalid token",
    );
    assertEquals([e.status, e.exitCode, requests.length], [401, 1, 1]);
  });
  await withServer([{ status: 400, json: { message: "media is required" } }], async (url) => {
    await serviceError(
      () => screenImage(PNG, visualSettings(url)),
      "Hive visual moderation: HTTP 400: media is required",
    );
  });
  await withServer([{ status: 500, text: "down" }], async (url, requests) => {
    await serviceError(() => screenImage(PNG, visualSettings(url)), "HTTP 500: down");
    assertEquals(requests.length, 3);
    assert(
      requests.every((r) => r.form?.get("media") instanceof File),
      "every retry sends the image",
    );
  });
  await withServer([{ text: "{oops" }], async (url) => {
    await serviceError(() => screenPrompt("x", textSettings(url)), "reply is not valid JSON");
  });
  await withServer([{ json: { status: "ok" } }], async (url) => {
    await serviceError(() => screenPrompt("x", textSettings(url)), "no output list");
  });
  await withServer([{ hang: true }], async (url) => {
    await serviceError(
      () => screenImage(PNG, visualSettings(url, { timeoutMs: 150 })),
      "no reply within 0.15 s",
    );
  });
});

Deno.test("Hive: a reply that is not a verdict is an error (exit 1), never a pass", async () => {
  const unreadable: [unknown, string][] = [
    [{ output: [{}] }, "an output without classes"],
    [{ output: [] }, "no output list"],
    [{ output: [{ classes: [] }] }, "an output without classes"],
    [{ output: [{ classes: [{ class: "violence", value: "high" }] }] }, "numeric value"],
    [{ output: [{ classes: [{ value: 3 }] }] }, "numeric value"],
    [{ output: [{ classes: [{ class: "spam", value: 0 }] }] }, "none of the screened classes"],
    [hiveReply([["general_nsfw", 0.1]]), "none of the screened classes"], // a visual reply to a text request
  ];
  for (const [json, why] of unreadable) {
    await withServer([{ json }], async (url) => {
      const e = await serviceError(
        () => screenPrompt("x", textSettings(url)),
        "Hive text moderation",
        "not a moderation verdict",
        why,
      );
      assertEquals(e.exitCode, 1, JSON.stringify(json));
    });
  }
  await withServer([{ json: { output: [{}] } }], async (url) => {
    const e = await serviceError(
      () => screenImage(PNG, visualSettings(url)),
      "not a moderation verdict",
    );
    assertEquals(e.exitCode, 1);
  });
});
