/**
 * Where the Hugging Face settings come from, with the same precedence as the
 * `huggingface_hub` Python library so both share one cache and one login:
 *
 * - endpoint: explicit, else `HF_ENDPOINT`, else `https://huggingface.co`;
 * - cache: explicit, else `HF_HUB_CACHE`, else `$HF_HOME/hub`, where `HF_HOME`
 *   defaults to `$XDG_CACHE_HOME/huggingface` or `~/.cache/huggingface`;
 * - token: explicit, else `HF_TOKEN`, else the file `HF_TOKEN_PATH` or
 *   `$HF_HOME/token`;
 * - offline: explicit, else `HF_HUB_OFFLINE` set to a true value;
 * - timeouts (seconds): `HF_HUB_ETAG_TIMEOUT` for the response headers of a
 *   request (default 10), `HF_HUB_DOWNLOAD_TIMEOUT` for a body that sends no
 *   bytes (default 30).
 *
 * Everything reads the environment through an {@link EnvLookup} so tests can
 * run against a made-up environment and never see the real `~/.cache`.
 */
import type { Platform } from "../../types.ts";
import { redactUrl, rememberSecret } from "../../../redact.ts";
import { HubError } from "./http.ts";

/** An environment variable, or undefined where it is unset. */
export type EnvLookup = (name: string) => string | undefined;

export const DEFAULT_ENDPOINT = "https://huggingface.co";

/** A variable that is set to something other than the empty string. */
function envValue(env: EnvLookup, name: string): string | undefined {
  const v = env(name)?.trim();
  return v ? v : undefined;
}

/** The Hub's base URL, without a trailing slash. */
export function hubEndpoint(explicit: string | undefined, env: EnvLookup): string {
  const raw = explicit ?? envValue(env, "HF_ENDPOINT") ?? DEFAULT_ENDPOINT;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(
      `Hugging Face endpoint "${redactUrl(raw)}" is not a URL (check --endpoint / HF_ENDPOINT)`,
    );
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new Error(`Hugging Face endpoint "${redactUrl(raw)}" must be an http(s) URL`);
  }
  // The password of a mirror URL: hidden in every message, encoded or not.
  rememberSecret(url.password);
  try {
    rememberSecret(decodeURIComponent(url.password));
  } catch {
    // malformed %-escapes: the encoded form is remembered
  }
  return raw.replace(/\/+$/, "");
}

/** `HF_HOME`: the folder holding the hub cache and the saved token. */
function hfHome(env: EnvLookup, p: Platform): string {
  const home = envValue(env, "HF_HOME");
  if (home) return home;
  const xdg = envValue(env, "XDG_CACHE_HOME");
  if (xdg) return p.join(xdg, "huggingface");
  const user = envValue(env, "HOME") ?? envValue(env, "USERPROFILE");
  if (!user) {
    throw new Error(
      "cannot find the home folder for the Hugging Face cache: set HF_HUB_CACHE or HF_HOME " +
        "(or pass a cache folder)",
    );
  }
  return p.join(user, ".cache", "huggingface");
}

/** The hub cache root (the folder that holds `models--ORG--NAME/`). */
export function hubCacheDir(explicit: string | undefined, env: EnvLookup, p: Platform): string {
  return explicit ?? envValue(env, "HF_HUB_CACHE") ?? p.join(hfHome(env, p), "hub");
}

/** Whether `HF_HUB_OFFLINE` asks for cache-only operation. */
export function offlineFromEnv(env: EnvLookup): boolean {
  const v = envValue(env, "HF_HUB_OFFLINE")?.toLowerCase();
  return v === "1" || v === "true" || v === "yes" || v === "on";
}

/**
 * An access token and where it came from. `source` names the origin
 * (`"HF_TOKEN"`, a file path) for error messages; the token itself must
 * never be printed.
 */
export interface HubToken {
  token?: string;
  source?: string;
}

/**
 * Finds the token: `explicit` (a string, or `false` for "send none"), else
 * `HF_TOKEN`, else the token file. No token is not an error: public repos
 * need none, and a gated one answers 401 with a message that says what to do.
 */
export async function findToken(
  explicit: string | false | undefined,
  env: EnvLookup,
  p: Platform,
): Promise<HubToken> {
  if (explicit === false) return {};
  if (explicit !== undefined) {
    return explicit.trim()
      ? { token: rememberSecret(explicit.trim()), source: "the token option" }
      : {};
  }
  const fromEnv = envValue(env, "HF_TOKEN");
  if (fromEnv) return { token: rememberSecret(fromEnv), source: "HF_TOKEN" };
  let file: string;
  try {
    file = envValue(env, "HF_TOKEN_PATH") ?? p.join(hfHome(env, p), "token");
  } catch {
    return {}; // no home folder: then there is no saved token either
  }
  if (!await p.exists(file)) return {};
  const token = (await p.readText(file)).trim();
  return token ? { token: rememberSecret(token), source: file } : {};
}

/** How long Hub requests may wait, and how often they are retried. */
export interface NetworkPolicy {
  /** Until a request's response headers arrive. */
  connectTimeoutMs: number;
  /** Longest silence inside a response body. */
  idleTimeoutMs: number;
  /** Retries after the first attempt (network failures, HTTP 429 and 5xx). */
  retries: number;
  /** Wait before the first retry; doubles each time up to `maxDelayMs`. */
  baseDelayMs: number;
  /** Longest wait between two attempts. */
  maxDelayMs: number;
  /** Hears of each retry, with the reason. */
  onRetry?: (message: string) => void;
}

/** The defaults: `HF_HUB_ETAG_TIMEOUT` 10 s, `HF_HUB_DOWNLOAD_TIMEOUT` 30 s, 4 retries from 1 s. */
export const DEFAULT_NETWORK: Readonly<NetworkPolicy> = {
  connectTimeoutMs: 10_000,
  idleTimeoutMs: 30_000,
  retries: 4,
  baseDelayMs: 1000,
  maxDelayMs: 16_000,
};

/** The policy: `explicit` fields, else the environment's timeouts, else the defaults. */
export function networkPolicy(
  explicit: Partial<NetworkPolicy> | undefined,
  env: EnvLookup,
): NetworkPolicy {
  return {
    ...DEFAULT_NETWORK,
    connectTimeoutMs: envSeconds(env, "HF_HUB_ETAG_TIMEOUT") ?? DEFAULT_NETWORK.connectTimeoutMs,
    idleTimeoutMs: envSeconds(env, "HF_HUB_DOWNLOAD_TIMEOUT") ?? DEFAULT_NETWORK.idleTimeoutMs,
    ...explicit,
  };
}

/** A positive number of seconds from the environment, as milliseconds. */
export function envSeconds(env: EnvLookup, name: string): number | undefined {
  const v = envValue(env, name);
  if (v === undefined) return undefined;
  const s = Number(v);
  if (!(s > 0) || !Number.isFinite(s)) {
    throw new HubError(`${name}=${v}: must be a positive number of seconds`, 2);
  }
  return s * 1000;
}
