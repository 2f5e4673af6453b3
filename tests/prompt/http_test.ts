import { assert, assertEquals, assertRejects } from "../assert.ts";
import { ServiceError } from "../../src/prompt/errors.ts";
import { postJson, redact, retryAfterMs, serviceMessage } from "../../src/prompt/http.ts";
import { FAST_RETRY, withServer } from "./local_server.ts";

const KEY = "sk-test-secret-0123456789";

function post(url: string, extra: Partial<Parameters<typeof postJson>[0]> = {}) {
  return postJson({
    url,
    headers: { Authorization: `Bearer ${KEY}`, "Content-Type": "application/json" },
    body: () => JSON.stringify({ hello: "world" }),
    timeoutMs: 1000,
    retry: FAST_RETRY,
    secrets: [KEY],
    error: (status, message) => new ServiceError("Test service", status, message),
    ...extra,
  });
}

/** Runs a call that must fail with a ServiceError; returns it. */
async function serviceError(fn: () => Promise<unknown>, ...parts: string[]): Promise<ServiceError> {
  const e = await assertRejects(fn, ...parts);
  assert(e instanceof ServiceError, `${e.name}: ${e.message}`);
  assert(!e.message.includes(KEY), `the key leaked: ${e.message}`);
  return e;
}

Deno.test("http: 200 returns the JSON; the request carries headers and body", async () => {
  await withServer([{ json: { ok: 1 } }], async (url, requests) => {
    assertEquals(await post(`${url}/x`), { ok: 1 });
    assertEquals(requests.length, 1);
    assertEquals([requests[0].method, requests[0].path, requests[0].body], [
      "POST",
      "/x",
      '{"hello":"world"}',
    ]);
    assertEquals(requests[0].headers.get("authorization"), `Bearer ${KEY}`);
  });
});

Deno.test("http: 429 then 200 retries; 500 twice then 200 retries; retries are bounded", async () => {
  await withServer(
    [{ status: 429, json: { error: "slow down" } }, { json: { ok: 2 } }],
    async (url, requests) => {
      assertEquals(await post(url), { ok: 2 });
      assertEquals(requests.length, 2);
      assertEquals(requests[1].body, requests[0].body, "the retry sends the same body");
    },
  );
  await withServer([{ status: 500, text: "oops" }, { status: 503, text: "busy" }, {
    json: { ok: 3 },
  }], async (url, requests) => {
    assertEquals(await post(url), { ok: 3 });
    assertEquals(requests.length, 3);
  });
  await withServer([{ status: 502, text: "<html>Bad gateway</html>" }], async (url, requests) => {
    const e = await serviceError(
      () => post(url),
      "Test service: HTTP 502: <html>Bad gateway</html>",
    );
    assertEquals([e.status, e.exitCode, requests.length], [502, 1, 1 + FAST_RETRY.retries]);
  });
});

Deno.test("http: 400 and 401 fail at once with the service's message, never the key", async () => {
  await withServer(
    [{ status: 400, json: { error: { message: "text_prompt is required" } } }],
    async (url, requests) => {
      const e = await serviceError(() => post(url), "HTTP 400: text_prompt is required");
      assertEquals([e.status, e.serviceMessage, requests.length], [
        400,
        "text_prompt is required",
        1,
      ]);
    },
  );
  // A service that echoes the key back: it is scrubbed.
  await withServer([{ status: 401, json: { message: `invalid api key ${KEY}` } }], async (url) => {
    const e = await serviceError(() => post(url), "HTTP 401: invalid api key ***");
    assertEquals(e.status, 401);
  });
});

Deno.test("http: Retry-After is honoured and bounded by maxDelayMs", async () => {
  await withServer(
    [{ status: 429, headers: { "retry-after": "0.25" } }, { json: {} }],
    async (url) => {
      const t0 = performance.now();
      await post(url, { retry: { retries: 1, baseDelayMs: 1, maxDelayMs: 2000 } });
      const ms = performance.now() - t0;
      assert(ms >= 240 && ms < 1500, `waited ${ms.toFixed(0)} ms for Retry-After 0.25 s`);
    },
  );
  await withServer(
    [{ status: 503, headers: { "retry-after": "3600" } }, { json: {} }],
    async (url) => {
      const t0 = performance.now();
      await post(url, { retry: { retries: 1, baseDelayMs: 1, maxDelayMs: 100 } });
      const ms = performance.now() - t0;
      assert(
        ms >= 90 && ms < 1000,
        `waited ${ms.toFixed(0)} ms with a one-hour Retry-After bounded to 100 ms`,
      );
    },
  );
  assertEquals(retryAfterMs("3"), 3000);
  assertEquals(retryAfterMs(null), undefined);
  assertEquals(retryAfterMs("soon"), undefined);
  assertEquals(
    retryAfterMs("Wed, 21 Oct 2015 07:28:10 GMT", Date.UTC(2015, 9, 21, 7, 28, 0)),
    10_000,
  );
});

Deno.test("http: malformed JSON in a 200 reply is an error showing the reply", async () => {
  await withServer([{ text: '{"ok": tru' }], async (url, requests) => {
    const e = await serviceError(() => post(url), 'HTTP 200: reply is not valid JSON: {"ok": tru');
    assertEquals([e.status, requests.length], [200, 1]);
  });
});

Deno.test("http: a reply slower than the timeout fails without retrying", async () => {
  await withServer([{ hang: true }], async (url, requests) => {
    const t0 = performance.now();
    const e = await serviceError(
      () => post(url, { timeoutMs: 200 }),
      "Test service: no reply within 0.2 s",
    );
    const ms = performance.now() - t0;
    assertEquals([e.status, requests.length], [undefined, 1]);
    assert(ms >= 190 && ms < 1500, `gave up after ${ms.toFixed(0)} ms`);
  });
});

Deno.test("http: a refused connection is retried, then reported", async () => {
  let closedUrl = "";
  await withServer([{ json: {} }], (url) => {
    closedUrl = url;
    return Promise.resolve();
  });
  const e = await serviceError(() => post(closedUrl), "Test service: request to", "failed");
  assertEquals(e.status, undefined);
});

Deno.test("http: an abort signal cancels the request", async () => {
  await withServer([{ hang: true }], async (url) => {
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(new Error("user cancelled")), 50);
    await assertRejects(() => post(url, { signal: ctl.signal }), "user cancelled");
  });
});

Deno.test("http: service messages and redaction", () => {
  assertEquals(serviceMessage('{"error":"bad"}', "Bad Request"), "bad");
  assertEquals(serviceMessage('{"detail":[{"msg":"field required"}]}', ""), "field required");
  assertEquals(serviceMessage("", "Unauthorized"), "Unauthorized");
  assertEquals(serviceMessage("x".repeat(400), "").length, 301);
  assertEquals(redact(`a ${KEY} b ${KEY}`, [KEY, undefined]), "a *** b ***");
});
