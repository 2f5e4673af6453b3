/**
 * Requests to the Hub: redirects followed by hand so the access token only
 * ever goes to the Hub's own origin (LFS files redirect to a CDN on another
 * host, which must not see it), and HTTP failures turned into errors that say
 * what to do. Uses `redirect: "manual"`, which Deno answers with the real 3xx
 * response (a browser would hide it): this module is Deno-only.
 *
 * Nothing waits forever: each request must get its response headers within
 * the connect timeout, and its body must keep delivering bytes (the idle
 * timeout); both failures are {@link HubNetworkError}s, which
 * {@link withRetries} retries with exponential backoff (GETs are idempotent;
 * downloads resume with a Range request). Server text in errors is redacted.
 */
import { redact, redactUrl } from "../../../redact.ts";
import type { HubToken, NetworkPolicy } from "./settings.ts";

/** Everything a request to one repository needs. */
export interface HubClient {
  /** Base URL, no trailing slash. */
  endpoint: string;
  /** `org/name`. */
  repo: string;
  token: HubToken;
  fetch: typeof fetch;
  /** Timeouts and retries. */
  network: NetworkPolicy;
}

/** What a request was for, to word its errors. */
export type RequestPurpose =
  | { kind: "listing"; revision: string }
  | { kind: "file"; path: string; commit: string };

/**
 * The network failed: the host could not be reached, gave no response within
 * the connect timeout, or stopped sending mid-body. Worth a retry.
 */
export class HubNetworkError extends Error {
  /** Error name. */
  override name = "HubNetworkError";
}

/**
 * A request failed in a way the user's input explains or can fix (`exitCode`
 * 2: bad repo id or revision) or not (1: the server, the files). The CLI exits
 * with `exitCode`.
 */
export class HubError extends Error {
  /** Error name. */
  override name = "HubError";
  /** `message` for the user; `status` is the HTTP status when there was one. */
  constructor(message: string, readonly exitCode: 1 | 2 = 1, readonly status?: number) {
    super(message);
  }
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 10;

/** `{endpoint}/api/models/{repo}/revision/{revision}?blobs=true`. */
export function listingUrl(c: HubClient, revision: string): string {
  return `${c.endpoint}/api/models/${c.repo}/revision/${encodeURIComponent(revision)}?blobs=true`;
}

/** `{endpoint}/{repo}/resolve/{commit}/{path}`. */
export function resolveUrl(c: HubClient, commit: string, path: string): string {
  const encoded = path.split("/").map(encodeURIComponent).join("/");
  return `${c.endpoint}/${c.repo}/resolve/${commit}/${encoded}`;
}

/** The final response, and the headers of the first one (the Hub's, before any CDN redirect). */
export interface HubResponse {
  response: Response;
  hubHeaders: Headers;
}

/**
 * GET `url`, following redirects; `Authorization` is sent only while the URL
 * is on the endpoint's origin. A non-2xx final status becomes an error.
 */
export async function hubGet(
  c: HubClient,
  url: string,
  headers: Record<string, string>,
  purpose: RequestPurpose,
): Promise<HubResponse> {
  const hubOrigin = new URL(c.endpoint).origin;
  let at = new URL(url);
  let hubHeaders: Headers | undefined;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const h = new Headers(headers);
    if (c.token.token && at.origin === hubOrigin) h.set("authorization", `Bearer ${c.token.token}`);
    const response = await timedFetch(c, at, h);
    hubHeaders ??= response.headers;
    if (REDIRECTS.has(response.status)) {
      const location = response.headers.get("location");
      await response.body?.cancel().catch(() => {});
      if (!location) {
        throw new HubError(
          `${redactUrl(at.href)}: HTTP ${response.status} redirect without a Location`,
        );
      }
      at = new URL(location, at);
      continue;
    }
    if (response.ok) return { response, hubHeaders };
    throw await httpError(c, response, purpose, at);
  }
  throw new HubError(`${redactUrl(url)}: more than ${MAX_REDIRECTS} redirects`);
}

/**
 * One fetch whose headers must arrive within the connect timeout and whose
 * body must never go quiet for longer than the idle timeout.
 */
async function timedFetch(c: HubClient, at: URL, headers: Headers): Promise<Response> {
  const { connectTimeoutMs, idleTimeoutMs } = c.network;
  const controller = new AbortController();
  const host = at.host;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, connectTimeoutMs);
  let response: Response;
  try {
    response = await c.fetch(at.href, {
      headers,
      redirect: "manual",
      signal: controller.signal,
    });
  } catch (e) {
    if (timedOut) {
      throw new HubNetworkError(
        `no response from ${host} within ${seconds(connectTimeoutMs)} (HF_HUB_ETAG_TIMEOUT)`,
        { cause: e },
      );
    }
    if (e instanceof TypeError) {
      throw new HubNetworkError(`cannot reach ${host} (${redact(e.message)})`, { cause: e });
    }
    throw e;
  } finally {
    clearTimeout(timer);
  }
  if (!response.body) return response;
  const reader = response.body.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(out) {
      let idle: ReturnType<typeof setTimeout> | undefined;
      const stalled = new Promise<never>((_, reject) => {
        idle = setTimeout(() => {
          // Settle the race first: aborting also fails the pending read.
          reject(
            new HubNetworkError(
              `${host} sent no bytes for ${seconds(idleTimeoutMs)} (HF_HUB_DOWNLOAD_TIMEOUT)`,
            ),
          );
          controller.abort();
        }, idleTimeoutMs);
      });
      try {
        const { done, value } = await Promise.race([reader.read(), stalled]);
        if (done) out.close();
        else out.enqueue(value);
      } catch (e) {
        reader.cancel().catch(() => {});
        if (e instanceof HubNetworkError) throw e;
        throw new HubNetworkError(
          `connection to ${host} broke (${redact(e instanceof Error ? e.message : String(e))})`,
          { cause: e },
        );
      } finally {
        clearTimeout(idle);
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
  return new Response(body, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}

/**
 * Runs `attempt` until it succeeds, retrying {@link HubNetworkError}s and
 * HTTP 429/5xx with exponential backoff (`c.network`). `onRetry` hears of
 * each retry (the CLI prints it).
 */
export async function withRetries<T>(c: HubClient, attempt: () => Promise<T>): Promise<T> {
  const n = c.network;
  for (let i = 0;; i++) {
    try {
      return await attempt();
    } catch (e) {
      const retryable = e instanceof HubNetworkError ||
        (e instanceof HubError && e.status !== undefined &&
          (e.status === 429 || e.status >= 500));
      if (!retryable || i >= n.retries) throw e;
      const wait = Math.min(n.maxDelayMs, n.baseDelayMs * 2 ** i);
      n.onRetry?.(`${(e as Error).message}; retry ${i + 1} of ${n.retries} in ${seconds(wait)}`);
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

function seconds(ms: number): string {
  return `${+(ms / 1000).toFixed(3)} s`;
}

/** An error for a failed response, saying what to do about it. */
async function httpError(
  c: HubClient,
  res: Response,
  purpose: RequestPurpose,
  at: URL,
): Promise<Error> {
  const code = res.headers.get("x-error-code") ?? "";
  const serverMsg = redact(
    (res.headers.get("x-error-message") ?? (await res.text().catch(() => "")))
      .replace(/\s+/g, " ").trim().slice(0, 200),
    [c.token.token],
  );
  await res.body?.cancel().catch(() => {});
  const status = `HTTP ${res.status}`;
  const what = purpose.kind === "listing"
    ? `${c.repo}@${purpose.revision}`
    : `${c.repo}@${purpose.commit.slice(0, 12)}: ${purpose.path}`;
  if (code === "RepositoryNotFound") {
    return new HubError(
      `${what}: repository not found at ${redactUrl(c.endpoint)} (${status}); check the repo id` +
        (c.token.token ? "" : ", and if it is private set HF_TOKEN"),
      2,
      res.status,
    );
  }
  if (res.status === 401 || res.status === 403) {
    const link = `${redactUrl(c.endpoint)}/${c.repo}`; // https://huggingface.co/REPO on the real Hub
    const tokenNote = c.token.token
      ? `the token from ${c.token.source} was refused`
      : "no token was found in HF_TOKEN, HF_TOKEN_PATH or $HF_HOME/token";
    return new HubError(
      `${what}: ${status}: gated repo: accept the licence at ${link} and set HF_TOKEN (${tokenNote})`,
      1,
      res.status,
    );
  }
  if (res.status === 404) {
    if (purpose.kind === "listing" || code === "RevisionNotFound") {
      const rev = purpose.kind === "listing" ? purpose.revision : purpose.commit;
      return new HubError(
        `${what}: revision "${rev}" not found (${status}); check --revision (a branch, tag or commit sha of ${c.repo})`,
        2,
        res.status,
      );
    }
    return new HubError(
      `${what}: file not found (${status}) although the repository listing names it; re-run, ` +
        `or pass another --revision`,
      1,
      res.status,
    );
  }
  return new HubError(
    `${what}: ${status} ${res.statusText} from ${at.host}${serverMsg ? `: ${serverMsg}` : ""}`,
    1,
    res.status,
  );
}
