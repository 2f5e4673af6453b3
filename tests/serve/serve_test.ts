/**
 * `serve` over real HTTP on 127.0.0.1 with the embedded model: the model
 * loads once across requests, the `openai` npm client works against it, a
 * full queue answers 429, a client that goes away cancels its job and the
 * GPU memory returns to where it was, bad requests name their JSON path,
 * the API key is enforced and never logged, and the prompt step (magic
 * prompt, Hive) runs as on the command line with service failures as 502/503.
 */
import OpenAI from "openai";
import { assert, assertEquals } from "../assert.ts";
import { decodePngRgb, readPngText } from "../../src/image/png.ts";
import { PHOTO_CAPTION } from "../prompt/examples.ts";
import { withServer } from "../prompt/local_server.ts";
import { EventReader, metric, waitFor, withApiServer } from "./serve_util.ts";

function b64(s: string): Uint8Array {
  return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
}

function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

Deno.test("serve: two requests load the model once; the second starts sampling sooner by at least the load time", async () => {
  await withApiServer({}, async (s) => {
    const health = await (await fetch(`${s.url}/healthz`)).json();
    assertEquals(health.loaded, false);
    const body = { prompt: "a lighthouse at dusk", steps: 1, seed: 5 };
    const r1 = await post(`${s.url}/v1/ideogram4/generate`, body);
    assertEquals(r1.status, 200, await r1.clone().text());
    assertEquals(r1.headers.get("x-queue-position"), "0");
    const a = await r1.json();
    const b = await (await post(`${s.url}/v1/ideogram4/generate`, body)).json();
    // Each component was read and uploaded once, during the first request only.
    for (const c of ["text_encoder", "transformers", "vae"]) {
      assertEquals(await metric(s, `ideogram4_model_loads_total{component="${c}"}`), 1, c);
    }
    assert(a.timings.load_ms > 0, JSON.stringify(a.timings));
    assertEquals(b.timings.load_ms, 0);
    console.log(`first ${JSON.stringify(a.timings)}\nsecond ${JSON.stringify(b.timings)}`);
    // The second reaches its first sampling step sooner by at least the first's load time
    // (durations the server measured; the phase where loading happens, so the VAE decode's
    // run-to-run noise on a shared CPU does not enter).
    assert(
      a.timings.first_step_ms - b.timings.first_step_ms >= a.timings.load_ms,
      `first ${JSON.stringify(a.timings)}, second ${JSON.stringify(b.timings)}`,
    );
    assertEquals(await metric(s, "ideogram4_images_total"), 2);
    assertEquals(await metric(s, "ideogram4_steps_total"), 2);
    // Same seed, same image; a PNG with the request in its text chunks.
    assertEquals(a.images[0].png_base64, b.images[0].png_base64);
    const png = b64(a.images[0].png_base64);
    const img = decodePngRgb(png);
    assertEquals([img.width, img.height], [256, 256]);
    assert(new Set(img.rgb).size > 16, "not a flat image");
    const text = readPngText(png);
    assertEquals([text.Caption, text.Seed, text.Steps], ["a lighthouse at dusk", "5", "1"]);
    assertEquals([a.size, a.preset, a.seeds], ["256x256", "custom 1 steps", [5]]);
    assertEquals((await (await fetch(`${s.url}/healthz`)).json()).loaded, true);
  });
});

Deno.test("serve: the openai npm client (b64_json and url) and /v1/models", async () => {
  const key = "test-key-7f3a";
  await withApiServer({ apiKey: key }, async (s, log) => {
    const client = new OpenAI({ apiKey: key, baseURL: `${s.url}/v1`, maxRetries: 0 });
    const models = await client.models.list();
    assertEquals(models.data.map((m) => m.id), ["ideogram-4"]);
    // Our extensions go in the body next to OpenAI's fields, as the client sends unknown keys.
    const params = {
      model: "ideogram-4",
      prompt: "a paper boat on a pond",
      n: 1,
      size: "256x256",
      response_format: "b64_json",
      seed: 11,
      steps: 1,
    } as OpenAI.ImageGenerateParamsNonStreaming;
    const res = await client.images.generate(params);
    assertEquals(res.data?.length, 1);
    const item = res.data![0] as { b64_json?: string; revised_prompt?: string; seed?: number };
    assertEquals([item.revised_prompt, item.seed], ["a paper boat on a pond", 11]);
    const png = b64(item.b64_json!);
    assertEquals(readPngText(png).Seed, "11");

    const byUrl = await client.images.generate({ ...params, response_format: "url" });
    const url = byUrl.data![0].url!;
    assert(url.startsWith(`${s.url}/v1/images/files/`), url);
    const fetched = await fetch(url);
    assertEquals(fetched.headers.get("content-type"), "image/png");
    assertEquals(new Uint8Array(await fetched.arrayBuffer()), png, "same seed, same PNG");
    assert(!log.join("\n").includes(key), "the key is never logged");
  });
});

Deno.test("serve: a full queue answers 429; a client that goes away is cancelled and memory returns", async () => {
  await withApiServer({ queueSize: 1 }, async (s) => {
    // Warm up, then take the baseline: weights resident, no request in flight. One prompt
    // throughout: the transformers cache position tables per sequence layout.
    const prompt = "a very long job";
    const warm = await post(`${s.url}/v1/ideogram4/generate`, { prompt, steps: 1 });
    assertEquals(warm.status, 200, await warm.text());
    const baseline = await metric(s, "ideogram4_gpu_memory_live_bytes");
    assert(baseline > 0);

    // A: a long job (1000 steps), running; its client disconnects later (plain request).
    const aAbort = new AbortController();
    const a = fetch(`${s.url}/v1/ideogram4/generate`, {
      method: "POST",
      body: JSON.stringify({ prompt, steps: 1000 }),
      signal: aAbort.signal,
    }).catch((e) => e);
    await waitFor(
      "A's first step",
      async () => (await metric(s, "ideogram4_steps_total")) >= 2,
    );
    // B: waits in the queue (streamed, so we see its place).
    const b = await post(`${s.url}/v1/images/generations`, {
      prompt: "waiting",
      steps: 1,
      stream: true,
    });
    assertEquals(b.headers.get("content-type"), "text/event-stream");
    const bEvents = new EventReader(b.body!);
    const queued = await bEvents.next();
    assertEquals(queued, { event: "queued", data: { position: 1, queue_length: 1 } });
    // C: no room.
    const c = await post(`${s.url}/v1/images/generations`, { prompt: "no room", steps: 1 });
    assertEquals(c.status, 429);
    assert(Number(c.headers.get("retry-after")) >= 1, c.headers.get("retry-after") ?? "none");
    assertEquals(c.headers.get("x-queue-length"), "1");
    assertEquals((await c.json()).error.type, "rate_limit_error");

    // B's client goes: it leaves the queue without running.
    await bEvents.cancel();
    await waitFor(
      "B to leave the queue",
      async () =>
        (await metric(s, "ideogram4_queue_length")) === 0 &&
        (await metric(s, "ideogram4_jobs_cancelled_total")) === 1,
    );
    // A's client goes: the step loop stops and the request's memory is released.
    aAbort.abort();
    await a;
    await waitFor("A to stop", async () => (await metric(s, "ideogram4_jobs_running")) === 0);
    assertEquals(await metric(s, "ideogram4_jobs_cancelled_total"), 2);
    assert((await metric(s, "ideogram4_steps_total")) < 100, "A stopped early");
    assertEquals(await metric(s, "ideogram4_images_total"), 1, "only the warm-up image");
    assertEquals(await metric(s, "ideogram4_gpu_memory_live_bytes"), baseline);

    // The server goes on: the next request runs at once, with its progress as events.
    const next = await post(`${s.url}/v1/ideogram4/generate`, { prompt, steps: 1 }, {
      accept: "text/event-stream",
    });
    const events = new EventReader(next.body!);
    const seen: string[] = [];
    let done: { images: unknown[]; seeds: number[] } | undefined;
    for (let e = await events.next(); e; e = await events.next()) {
      seen.push(e.event);
      if (e.event === "progress") {
        const p = e.data as { step: number; steps: number; image: number; ms: number };
        assertEquals([p.image, p.step, p.steps], [1, 1, 1]);
        assert(p.ms > 0);
      }
      if (e.event === "done") done = e.data as typeof done;
    }
    assertEquals(seen.filter((e) => e !== "status" && e !== "warning"), [
      "queued",
      "started",
      "progress",
      "done",
    ]);
    assertEquals(done?.images.length, 1);
    assertEquals(done?.seeds, [0]);
    assertEquals(await metric(s, "ideogram4_gpu_memory_live_bytes"), baseline);
  });
});

Deno.test("serve: bad requests answer 400 with the JSON path; auth answers 401; nothing runs", async () => {
  const key = "s3cret-key-for-test";
  await withApiServer({ apiKey: key, maxBodyBytes: 4096 }, async (s, log) => {
    const auth = { authorization: `Bearer ${key}` };
    const gen = `${s.url}/v1/images/generations`, native = `${s.url}/v1/ideogram4/generate`;
    const cases: [string, unknown, string | null, RegExp][] = [
      [gen, '{"prompt": "x",', null, /not JSON: invalid JSON at line 1, column 16/],
      [gen, [1], "$", /expected a JSON object/],
      [gen, { n: 1 }, "$.prompt", /required/],
      [gen, { prompt: "x", n: "two" }, "$.n", /integer from 1 to 4/],
      [gen, { prompt: "x", n: 9 }, "$.n", /integer from 1 to 4/],
      [gen, { prompt: "x", size: "big" }, "$.size", /WIDTHxHEIGHT/],
      [gen, { prompt: "x", size: "250x256" }, null, /width 250 is not a multiple of 16/],
      [gen, { prompt: "x", negative_prompt: "blur" }, "$.negative_prompt", /no negative prompt/],
      [gen, { prompt: "x", quality: "hd" }, "$.quality", /unknown field/],
      [gen, { prompt: "x", model: "dall-e-3" }, "$.model", /serves 'ideogram-4'/],
      [gen, { prompt: "x", response_format: "jpeg" }, "$.response_format", /b64_json/],
      [gen, { prompt: "x", steps: "many" }, "$.steps", /not an integer/],
      [gen, { prompt: "x", guidance: [1, "a"] }, "$.guidance[1]", /expected a number/],
      [gen, { prompt: "x", preset: "FAST" }, null, /FAST/],
      [native, { prompt: "x", width: "abc" }, "$.width", /not an integer/],
      [native, { prompt: "x", "hive-text-key": "k" }, "$.hive-text-key", /when the server starts/],
      [native, { prompt: "x", output: "a.png" }, "$.output", /no meaning here/],
      [native, { prompt: "x", colour: 1 }, "$.colour", /unknown option/],
      [native, { prompt: "x", "magic-prompt": "yes" }, "$.magic-prompt", /true or false/],
      [native, { prompt: '{"high_level_description": 5}' }, null, /not a valid Ideogram 4 caption/],
    ];
    for (const [url, body, param, message] of cases) {
      const res = await post(url, body, auth);
      const err = (await res.json()).error;
      const label = JSON.stringify(body);
      assertEquals(res.status, 400, `${label}: ${err.message}`);
      assertEquals(err.type, "invalid_request_error", label);
      if (param !== null) assertEquals(err.param, param, `${label}: ${err.message}`);
      assert(message.test(err.message), `${label}: ${err.message}`);
    }
    const big = await post(gen, { prompt: "x".repeat(5000) }, auth);
    assertEquals(big.status, 413);
    await big.body?.cancel();
    assertEquals((await fetch(`${s.url}/v1/nothing`, { headers: auth })).status, 404);
    assertEquals((await fetch(gen, { headers: auth })).status, 405);

    // Auth: none, wrong, right; /healthz is open.
    const tries: Record<string, string>[] = [{}, { authorization: "Bearer wrong" }, {
      authorization: key,
    }];
    for (const headers of tries) {
      const res = await post(gen, { prompt: "x", steps: 1 }, headers);
      assertEquals(res.status, 401, JSON.stringify(headers));
      assertEquals(res.headers.get("www-authenticate"), "Bearer");
      assertEquals((await res.json()).error.type, "authentication_error");
    }
    assertEquals((await fetch(`${s.url}/metrics`)).status, 401);
    assertEquals((await fetch(`${s.url}/healthz`)).status, 200);
    assertEquals((await fetch(`${s.url}/v1/models`, { headers: auth })).status, 200);
    // Nothing reached the GPU; the log has one line per request and no key.
    assertEquals(await metric(s, "ideogram4_images_total", key), 0);
    assertEquals(s.engine.stats.loads, {});
    assert(log.some((l) => /^POST \/v1\/images\/generations 401 \d+ ms$/.test(l)), log.join("\n"));
    assert(!log.join("\n").includes(key));
  });
});

Deno.test("serve: magic prompt and Hive moderation as in the CLI; failing services answer 502/503", async () => {
  const flagged = {
    status: { code: "0", message: "SUCCESS" },
    output: [{ time: 0, classes: [{ class: "violence", value: 3 }] }],
  };
  // A verdict lists the screened classes; an empty list is no verdict (moderation fails closed).
  const clean = {
    status: { code: "0", message: "SUCCESS" },
    output: [{ time: 0, classes: [{ class: "violence", value: 0 }] }],
  };
  let magicCalls = 0;
  await withServer([(req) => {
    if (req.path.includes("hive")) {
      return { json: req.body.includes("forbidden") ? flagged : clean };
    }
    return magicCalls++ === 0
      ? { json: { json_prompt: JSON.stringify(PHOTO_CAPTION) } }
      : { status: 401, json: { error: "bad key" } };
  }], async (services, requests) => {
    await withApiServer({
      promptFlags: { "ideogram-base-url": services, "hive-base-url": services },
      env: { IDEOGRAM_API_KEY: "ideo-key", HIVE_TEXT_MODERATION_KEY: "hive-key" },
    }, async (s) => {
      const url = `${s.url}/v1/images/generations`;
      // The magic prompt's caption is what the model got, and what the reply says it got.
      const ok = await post(url, { prompt: "a cat", steps: 1, seed: 1 });
      assertEquals(ok.status, 200, await ok.clone().text());
      const item = (await ok.json()).data[0];
      const caption = JSON.parse(item.revised_prompt);
      assertEquals(caption.high_level_description, PHOTO_CAPTION.high_level_description);
      assertEquals(readPngText(b64(item.b64_json)).Caption, item.revised_prompt);
      // Flagged words: 400 before the magic prompt sees them.
      const before = requests.length;
      const bad = await post(url, { prompt: "a forbidden thing", steps: 1 });
      assertEquals(bad.status, 400);
      assert((await bad.json()).error.message.includes("violence"));
      assertEquals(requests.length, before + 1, "only Hive was asked");
      // The magic prompt service answers with an error: 502.
      const failed = await post(url, { prompt: "a cat", steps: 1 });
      const err = (await failed.json()).error;
      assertEquals(failed.status, 502, err.message);
      assertEquals(err.type, "server_error");
      assert(!JSON.stringify(err).includes("ideo-key"));
    });
  });
  // A service that cannot be reached: 503.
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (closed.addr as Deno.NetAddr).port;
  closed.close();
  await withApiServer({
    promptFlags: { "ideogram-base-url": `http://127.0.0.1:${port}` },
    env: { IDEOGRAM_API_KEY: "ideo-key" },
  }, async (s) => {
    const res = await post(`${s.url}/v1/images/generations`, { prompt: "a cat", steps: 1 });
    const err = (await res.json()).error;
    assertEquals(res.status, 503, err.message);
  });
});

Deno.test("serve: a request past --timeout answers 504 and is cancelled", async () => {
  await withApiServer({ timeoutS: 1 }, async (s) => {
    const res = await post(`${s.url}/v1/ideogram4/generate`, { prompt: "slow", steps: 1000 });
    const err = (await res.json()).error;
    assertEquals(res.status, 504, err.message);
    assert(err.message.includes("timeout of 1 s"), err.message);
    assertEquals(await metric(s, "ideogram4_jobs_cancelled_total"), 1);
    assertEquals(await metric(s, "ideogram4_images_total"), 0);
  });
});
