/**
 * The redaction every message passes (src/redact.ts): registered secrets,
 * token-shaped strings, credentials after auth schemes and key names, and
 * passwords in URLs; ordinary text is left alone.
 */
import { assertEquals } from "./assert.ts";
import { hostOf, redact, redactUrl, rememberSecret } from "../src/redact.ts";

Deno.test("redact: tokens, auth headers, URL passwords and registered keys are hidden", () => {
  const cases: [string, string][] = [
    ["authorization: Bearer hf_AbCdEf0123456789xyz", "authorization: Bearer ***"],
    ["token hf_AbCdEf0123456789xyz expired", "token hf_*** expired"],
    ["Api-Key: ideo_9f8e7d6c5b4a", "Api-Key: ***"],
    ['{"api_key":"sk-123456789"}', '{"api_key":"***"}'],
    ["GET /x?token=abc123def&y=1", "GET /x?token=***&y=1"],
    ["https://me:pa55w0rd@mirror.example/api", "https://***@mirror.example/api"],
    ["Basic bWU6cGFzcw==", "Basic ***"],
  ];
  for (const [text, want] of cases) assertEquals(redact(text), want, text);
  // Ordinary text survives.
  for (
    const plain of [
      "no token was found in HF_TOKEN, HF_TOKEN_PATH or $HF_HOME/token",
      "prompt has 3000 tokens: over the 2048-token limit",
      "hf_hub cache at /home/me/.cache/huggingface/hub",
      "http://127.0.0.1:8080/v1/chat/completions",
    ]
  ) assertEquals(redact(plain), plain);
});

Deno.test("redact: a registered key is hidden everywhere, trimmed; short ones are not replaced", () => {
  rememberSecret("  plain-key-4b7e1d  ");
  assertEquals(redact("sent plain-key-4b7e1d twice: plain-key-4b7e1d"), "sent *** twice: ***");
  assertEquals(redact("one-off zz9-secret-zz", ["zz9-secret-zz"]), "one-off ***");
  assertEquals(redact("a b c", ["b"]), "a b c");
});

Deno.test("redact: URLs for messages keep their host, never their credentials", () => {
  assertEquals(redactUrl("https://u:p4ss@hub.example:8443/x"), "https://hub.example:8443/x");
  assertEquals(redactUrl("not a url"), "not a url");
  assertEquals(hostOf("https://u:p4ss@hub.example:8443/x"), "hub.example:8443");
});
