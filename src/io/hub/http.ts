/**
 * Requests to the Hub: redirects followed by hand so the access token only
 * ever goes to the Hub's own origin (LFS files redirect to a CDN on another
 * host, which must not see it), and HTTP failures turned into errors that say
 * what to do. Uses `redirect: "manual"`, which Deno answers with the real 3xx
 * response (a browser would hide it): this module is Deno-only.
 */
import type { HubToken } from "./settings.ts";

/** Everything a request to one repository needs. */
export interface HubClient {
  /** Base URL, no trailing slash. */
  endpoint: string;
  /** `org/name`. */
  repo: string;
  token: HubToken;
  fetch: typeof fetch;
}

/** What a request was for, to word its errors. */
export type RequestPurpose =
  | { kind: "listing"; revision: string }
  | { kind: "file"; path: string; commit: string };

/** The network could not be reached at all (fetch threw a TypeError). */
export class HubNetworkError extends Error {
  override name = "HubNetworkError";
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
    let response: Response;
    try {
      response = await c.fetch(at.href, { headers: h, redirect: "manual" });
    } catch (e) {
      if (e instanceof TypeError) {
        throw new HubNetworkError(`cannot reach ${at.origin} (${e.message})`, { cause: e });
      }
      throw e;
    }
    hubHeaders ??= response.headers;
    if (REDIRECTS.has(response.status)) {
      const location = response.headers.get("location");
      await response.body?.cancel();
      if (!location) {
        throw new Error(`${at.href}: HTTP ${response.status} redirect without a Location`);
      }
      at = new URL(location, at);
      continue;
    }
    if (response.ok) return { response, hubHeaders };
    throw await httpError(c, response, purpose);
  }
  throw new Error(`${url}: more than ${MAX_REDIRECTS} redirects`);
}

/** An error for a failed response, saying what to do about it. */
async function httpError(c: HubClient, res: Response, purpose: RequestPurpose): Promise<Error> {
  const code = res.headers.get("x-error-code") ?? "";
  const serverMsg = res.headers.get("x-error-message") ??
    (await res.text().catch(() => "")).slice(0, 200);
  await res.body?.cancel().catch(() => {});
  const status = `HTTP ${res.status}`;
  const what = purpose.kind === "listing"
    ? `${c.repo}@${purpose.revision}`
    : `${c.repo}@${purpose.commit.slice(0, 12)}: ${purpose.path}`;
  if (code === "RepositoryNotFound") {
    return new Error(
      `${what}: repository not found at ${c.endpoint} (${status}); check the repo id` +
        (c.token.token ? "" : ", and if it is private set HF_TOKEN"),
    );
  }
  if (res.status === 401 || res.status === 403) {
    const link = `${c.endpoint}/${c.repo}`; // https://huggingface.co/REPO on the real Hub
    const tokenNote = c.token.token
      ? `the token from ${c.token.source} was refused`
      : "no token was found in HF_TOKEN, HF_TOKEN_PATH or $HF_HOME/token";
    return new Error(
      `${what}: ${status}: gated repo: accept the licence at ${link} and set HF_TOKEN (${tokenNote})`,
    );
  }
  if (res.status === 404) {
    if (purpose.kind === "listing" || code === "RevisionNotFound") {
      const rev = purpose.kind === "listing" ? purpose.revision : purpose.commit;
      return new Error(
        `${what}: revision "${rev}" not found (${status}); check --revision (a branch, tag or commit sha of ${c.repo})`,
      );
    }
    return new Error(
      `${what}: file not found (${status}) although the repository listing names it; re-run, ` +
        `or pass another --revision`,
    );
  }
  return new Error(`${what}: ${status} ${res.statusText}${serverMsg ? `: ${serverMsg}` : ""}`);
}
