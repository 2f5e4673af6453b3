/**
 * One POST to a JSON web service, the way every client here needs it: a
 * timeout, retries with exponential backoff on 429 and 5xx (honouring
 * `Retry-After`, bounded), and errors that name the service, the HTTP status
 * and the service's own message — with API keys scrubbed from all of it
 * (src/redact.ts). The timeout covers the whole attempt (connecting, the
 * reply's headers and its whole body), so a service that stalls at any point
 * fails within it; the error names the host and the variable that raises it.
 * Only web APIs (`fetch`, `AbortController`), so it runs in a browser too.
 */
import { hostOf, redact, redactUrl } from "../redact.ts";
import type { ServiceError } from "./errors.ts";

export { redact } from "../redact.ts";

/** The environment variable (seconds) that overrides every service timeout. */
export const SERVICE_TIMEOUT_ENV = "IDEOGRAM4_SERVICE_TIMEOUT";

/** Retries of a service call: how many, and the backoff. */
export interface RetryPolicy {
  /** Retries after the first attempt. */
  retries: number;
  /** Wait before the first retry; doubles each time. */
  baseDelayMs: number;
  /** Upper bound of any wait, `Retry-After` included. */
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { retries: 3, baseDelayMs: 1000, maxDelayMs: 20_000 };

export interface PostRequest {
  url: string;
  headers: Record<string, string>;
  /** The body; a function so each attempt gets a fresh one. */
  body: () => BodyInit;
  timeoutMs: number;
  retry?: RetryPolicy;
  /** Strings (API keys) that must never appear in an error message. */
  secrets: (string | undefined)[];
  /** Builds the error to throw: status undefined for timeouts and network failures. */
  error: (status: number | undefined, message: string) => ServiceError;
  /** Replaces the global `fetch` (tests, proxies). */
  fetch?: typeof fetch;
  /** Cancels the request and any wait between retries. */
  signal?: AbortSignal;
  /** Parses the reply's text (default `JSON.parse`); throws on invalid JSON. */
  parse?: (text: string) => unknown;
}

/** POSTs and returns the parsed JSON reply of the first successful attempt. */
export async function postJson(req: PostRequest): Promise<unknown> {
  const retry = req.retry ?? DEFAULT_RETRY;
  const doFetch = req.fetch ?? fetch;
  const fail = (status: number | undefined, message: string) =>
    req.error(status, redact(message, req.secrets));

  for (let attempt = 0;; attempt++) {
    const canRetry = attempt < retry.retries;
    const backoff = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** attempt);
    let reply: { status: number; statusText: string; headers: Headers; text: string };
    try {
      reply = await fetchText(doFetch, req);
    } catch (e) {
      if (req.signal?.aborted) throw req.signal.reason;
      if (e instanceof TimeoutError) {
        throw fail(
          undefined,
          `no reply within ${req.timeoutMs / 1000} s from ${hostOf(req.url)} ` +
            `(raise it with ${SERVICE_TIMEOUT_ENV}, in seconds)`,
        );
      }
      // A connection that failed outright is worth another try; a timeout is not
      // (it already cost the full wait).
      if (canRetry) {
        await sleep(backoff, req.signal);
        continue;
      }
      throw fail(
        undefined,
        `request to ${redactUrl(req.url)} failed: ${e instanceof Error ? e.message : e}`,
      );
    }
    const { status } = reply;
    if (status >= 200 && status < 300) {
      try {
        return (req.parse ?? JSON.parse)(reply.text);
      } catch {
        throw fail(status, `reply is not valid JSON: ${snippet(reply.text) || "(empty)"}`);
      }
    }
    if ((status === 429 || status >= 500) && canRetry) {
      const wait = retryAfterMs(reply.headers.get("retry-after")) ?? backoff;
      await sleep(Math.min(wait, retry.maxDelayMs), req.signal);
      continue;
    }
    throw fail(status, serviceMessage(reply.text, reply.statusText));
  }
}

class TimeoutError extends Error {}

/** One attempt: the reply and its whole body, all within the timeout. */
async function fetchText(doFetch: typeof fetch, req: PostRequest) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new TimeoutError()), req.timeoutMs);
  const onAbort = () => controller.abort(req.signal!.reason);
  req.signal?.addEventListener("abort", onAbort);
  try {
    const res = await doFetch(req.url, {
      method: "POST",
      headers: req.headers,
      body: req.body(),
      signal: controller.signal,
    });
    const text = await res.text();
    return { status: res.status, statusText: res.statusText, headers: res.headers, text };
  } catch (e) {
    throw controller.signal.reason instanceof TimeoutError ? controller.signal.reason : e;
  } finally {
    clearTimeout(timer);
    req.signal?.removeEventListener("abort", onAbort);
  }
}

/** `Retry-After` as milliseconds: delta-seconds or an HTTP date; undefined if absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (header === null) return undefined;
  const h = header.trim();
  if (/^\d+(\.\d+)?$/.test(h)) return Number(h) * 1000;
  const at = Date.parse(h);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** The service's own error message out of an error reply, or a short piece of the body. */
export function serviceMessage(body: string, statusText: string): string {
  try {
    const data = JSON.parse(body);
    const found = pickMessage(data);
    if (found) return snippet(found);
  } catch {
    // not JSON: fall through to the raw text
  }
  return snippet(body) || statusText || "(empty reply)";
}

function pickMessage(data: unknown): string | undefined {
  if (typeof data === "string") return data;
  if (typeof data !== "object" || data === null) return undefined;
  const d = data as Record<string, unknown>;
  for (const key of ["error", "message", "detail", "msg", "errors"]) {
    const v = d[key];
    if (typeof v === "string" && v) return v;
    if (Array.isArray(v) && v.length > 0) return pickMessage(v[0]) ?? JSON.stringify(v);
    if (typeof v === "object" && v !== null) return pickMessage(v) ?? JSON.stringify(v);
  }
  return undefined;
}

/** Whitespace collapsed, at most 300 characters. */
function snippet(text: string): string {
  const t = text.replace(/\s+/g, " ").trim();
  return t.length > 300 ? t.slice(0, 300) + "…" : t;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, Math.max(0, ms));
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
