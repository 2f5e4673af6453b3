/**
 * The server's request bodies and error replies, with no server attached:
 * the OpenAI-compatible image body, the native body (the `generate` options
 * as JSON keys), and the mapping of errors to HTTP statuses. The mapping
 * follows the command line's exit-code rule: what the user gave → 400;
 * a remote service → 502 (it answered with an error) or 503 (unreachable or
 * timed out); the machine (model, GPU, files) → 500.
 */
import {
  flagsFromJson,
  type ImageRequest,
  imageRequestFromFlags,
  intOption,
  jsonLabel,
  type OptionKinds,
  type RequestFlags,
} from "../cli/generate_request.ts";
import { randomSeed } from "../pipeline/noise.ts";
import { SizeError } from "../pipeline/size.ts";
import { PromptError, PromptRejectedError, ServiceError } from "../prompt/errors.ts";
import { parseJson } from "../prompt/json.ts";
import { PromptTooLongError } from "../text/tokenizer.ts";
import { redact } from "../redact.ts";
import { UsageError } from "../cli/usage_error.ts";
import type { EngineRequest, PromptOverrides } from "./engine.ts";

/** An error with the HTTP status to answer it with. */
export class HttpError extends Error {
  override name = "HttpError";
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
    /** The JSON path of the offending field, when there is one. */
    readonly param?: string,
  ) {
    super(message);
  }
}

/** The job was cancelled because its client went away. */
export class ClientGoneError extends Error {
  override name = "ClientGoneError";
  constructor() {
    super("the client closed the connection; the request was cancelled");
  }
}

/** The request ran past the server's `--timeout`. */
export class RequestTimeoutError extends Error {
  override name = "RequestTimeoutError";
  constructor(seconds: number) {
    super(`the request took longer than the server's timeout of ${seconds} s and was cancelled`);
  }
}

/** HTTP status for an error raised while handling a request. */
export function statusOf(e: unknown): number {
  if (e instanceof HttpError) return e.status;
  if (e instanceof ServiceError) return e.status === undefined ? 503 : 502;
  if (e instanceof PromptError) return e.exitCode === 2 ? 400 : 500;
  if (e instanceof UsageError || e instanceof SizeError || e instanceof PromptTooLongError) {
    return 400;
  }
  if (e instanceof RequestTimeoutError) return 504;
  // Nobody reads it, but the log line says what happened.
  if (e instanceof ClientGoneError) return 499;
  return 500;
}

/** OpenAI's error body: `{"error": {"message", "type", "param", "code"}}`. */
export function errorBody(e: unknown): { error: Record<string, unknown> } {
  const status = statusOf(e);
  const message = redact(e instanceof Error ? e.message : String(e));
  const param = e instanceof HttpError ? e.param : /^(\$[^\s:]*)/.exec(message)?.[1];
  const type = status === 400 || status === 413 || status === 404 || status === 405
    ? "invalid_request_error"
    : status === 401
    ? "authentication_error"
    : status === 429
    ? "rate_limit_error"
    : "server_error";
  return {
    error: { message, type, param: param ?? null, code: e instanceof Error ? e.name : null },
  };
}

/** Parses a request body as JSON; a syntax error is a 400 with line and column. */
export function parseBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    try {
      parseJson(text);
    } catch (e) {
      throw new HttpError(400, `the request body is not JSON: ${(e as Error).message}`);
    }
    throw new HttpError(400, "the request body is not JSON");
  }
}

/** What the server knows when it turns a body into an engine request. */
export interface BodyContext {
  /** Whether the server runs the embedded model (its size and preset defaults). */
  embedded: boolean;
  /** The model name `/v1/models` lists. */
  modelName: string;
  /** Largest `n`. */
  maxImages: number;
}

export interface ParsedBody {
  engine: EngineRequest;
  /** Stream progress as server-sent events. */
  stream: boolean;
  responseFormat: "b64_json" | "url";
}

function rejected(path: string, message: string): never {
  throw new HttpError(400, `${path}: ${message}`, {}, path);
}

/** Reraises option errors as 400s, with the JSON path they name. */
function asBadRequest<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof UsageError || e instanceof PromptRejectedError || e instanceof SizeError) {
      const param = /^(\$[^\s:]*)/.exec(e.message)?.[1];
      throw new HttpError(400, e.message, {}, param);
    }
    throw e;
  }
}

function requireObject(body: unknown): Record<string, unknown> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    rejected("$", "expected a JSON object");
  }
  return body as Record<string, unknown>;
}

/** Seeds of `n` images: `seed`, `seed+1`, … (a random first seed when none is given). */
function seedsFrom(seed: number | undefined, n: number): number[] {
  const first = seed ?? Number(randomSeed() & ((1n << 52n) - 1n));
  return Array.from({ length: n }, (_, i) => first + i);
}

/** The OpenAI fields besides the extensions, and what each accepts. */
const OPENAI_FIELDS = new Set([
  "prompt",
  "model",
  "n",
  "size",
  "response_format",
  "user",
  "stream",
  "seed",
  "preset",
  "steps",
  "guidance",
]);

/**
 * `POST /v1/images/generations`: `prompt`, `n`, `size` (`WxH`),
 * `response_format` (`b64_json` default, or `url`), `model` (absent or the
 * served name), `user` (ignored), `stream`, and the extensions `seed`,
 * `preset`, `steps`, `guidance`. Any other field is refused, so a client
 * never silently gets something it did not ask for.
 */
export function parseOpenAiBody(body: unknown, ctx: BodyContext): ParsedBody {
  const b = requireObject(body);
  if ("negative_prompt" in b) {
    rejected(
      "$.negative_prompt",
      "Ideogram 4 has no negative prompt (its unconditional branch sees no text); " +
        "describe what you want in the prompt instead",
    );
  }
  for (const key of Object.keys(b)) {
    if (!OPENAI_FIELDS.has(key)) {
      rejected(`$.${key}`, `unknown field (known: ${[...OPENAI_FIELDS].join(", ")})`);
    }
  }
  if (typeof b.prompt !== "string") rejected("$.prompt", "required, a string");
  if (b.model !== undefined && b.model !== null && b.model !== ctx.modelName) {
    rejected("$.model", `this server serves '${ctx.modelName}', not ${JSON.stringify(b.model)}`);
  }
  let n = 1;
  if (b.n !== undefined && b.n !== null) {
    if (typeof b.n !== "number" || !Number.isInteger(b.n) || b.n < 1 || b.n > ctx.maxImages) {
      rejected("$.n", `must be an integer from 1 to ${ctx.maxImages}`);
    }
    n = b.n;
  }
  const flags: RequestFlags = {};
  if (b.size !== undefined && b.size !== null && b.size !== "auto") {
    const m = typeof b.size === "string" ? /^(\d+)x(\d+)$/.exec(b.size) : null;
    if (!m) {
      rejected(
        "$.size",
        `expected "WIDTHxHEIGHT" such as "1024x1024", got ${JSON.stringify(b.size)}`,
      );
    }
    [flags.width, flags.height] = [m[1], m[2]];
  }
  const format = b.response_format ?? "b64_json";
  if (format !== "b64_json" && format !== "url") {
    rejected("$.response_format", `"b64_json" or "url", not ${JSON.stringify(format)}`);
  }
  if (b.stream !== undefined && typeof b.stream !== "boolean") {
    rejected("$.stream", "expected true or false");
  }
  if (b.user !== undefined && typeof b.user !== "string") rejected("$.user", "expected a string");
  const ext: Record<string, unknown> = {};
  for (const k of ["seed", "preset", "steps", "guidance"]) if (b[k] !== undefined) ext[k] = b[k];
  const e = asBadRequest(() =>
    flagsFromJson(ext, { seed: "string", preset: "string", steps: "string", guidance: "string" })
  );
  Object.assign(flags, {
    seed: e.seed,
    "sampler-preset": e.preset,
    steps: e.steps,
    guidance: e.guidance,
  });
  const request = asBadRequest(() =>
    imageRequestFromFlags(flags, ctx.embedded, (o) => openAiLabel(o))
  );
  return {
    engine: { prompt: b.prompt, request, seeds: seedsFrom(request.seed, n) },
    stream: b.stream === true,
    responseFormat: format,
  };
}

/** Names of the options in an OpenAI body (size → `$.size`, preset → `$.preset`). */
function openAiLabel(option: string): string {
  if (option === "width" || option === "height") return `$.size (${option})`;
  if (option === "sampler-preset") return "$.preset";
  return `$.${option}`;
}

/** Options of the native endpoint: `generate`'s per-image flags. */
export const NATIVE_OPTIONS: OptionKinds = {
  prompt: "string",
  width: "string",
  height: "string",
  "sampler-preset": "string",
  steps: "string",
  guidance: "string",
  mu: "string",
  std: "string",
  seed: "string",
  n: "string",
  "magic-prompt": "boolean",
  "no-magic-prompt": "boolean",
  "keep-bboxes": "boolean",
  "warn-on-caption-issues": "boolean",
  stream: "boolean",
};

/** `generate` flags that belong to the server's start, not to a request. */
export const SERVER_ONLY_OPTIONS: Record<string, string> = Object.fromEntries(
  [
    "model",
    "quantization",
    "revision",
    "offline",
    "gpu-memory",
    "keep-text-encoder",
    "magic-prompt-key",
    "magic-prompt-url",
    "magic-prompt-model",
    "magic-prompt-system-file",
    "hive-text-key",
    "hive-visual-key",
    "ideogram-base-url",
    "hive-base-url",
  ].map((k) => [k, `set when the server starts (serve --${k}), not per request`]),
);
for (const k of ["output", "prompt-file", "init-noise", "dry-run", "verbose", "quiet"]) {
  SERVER_ONLY_OPTIONS[k] = "a command-line option of generate; it has no meaning here";
}

/** The per-request prompt switches from option values. */
export function overridesFrom(v: Record<string, string | boolean | undefined>): PromptOverrides {
  if (v["magic-prompt"] === true && v["no-magic-prompt"] === true) {
    throw new HttpError(400, "$.magic-prompt and $.no-magic-prompt contradict each other");
  }
  return {
    magicPrompt: v["no-magic-prompt"] === true
      ? false
      : v["magic-prompt"] === true
      ? true
      : undefined,
    keepBboxes: v["keep-bboxes"] as boolean | undefined,
    warnOnCaptionIssues: v["warn-on-caption-issues"] as boolean | undefined,
  };
}

/**
 * `POST /v1/ideogram4/generate`: a JSON object whose keys are `generate`'s
 * per-image flags (`prompt`, `width`, `height`, `sampler-preset`, `steps`,
 * `guidance`, `mu`, `std`, `seed`, the magic prompt switches), plus `n` and
 * `stream`. The seed defaults to 0 as on the command line.
 */
export function parseNativeBody(body: unknown, ctx: BodyContext): ParsedBody {
  const v = asBadRequest(() => flagsFromJson(body, NATIVE_OPTIONS, "$", SERVER_ONLY_OPTIONS));
  if (typeof v.prompt !== "string" || v.prompt.trim() === "") {
    rejected("$.prompt", "required, a non-empty string");
  }
  const n = asBadRequest(() => intOption("n", v.n as string | undefined, jsonLabel)) ?? 1;
  if (n < 1 || n > ctx.maxImages) rejected("$.n", `must be an integer from 1 to ${ctx.maxImages}`);
  const request: ImageRequest = asBadRequest(() =>
    imageRequestFromFlags({ seed: "0", ...v } as RequestFlags, ctx.embedded, jsonLabel)
  );
  return {
    engine: {
      prompt: v.prompt,
      request,
      seeds: seedsFrom(request.seed, n),
      overrides: overridesFrom(v),
    },
    stream: v.stream === true,
    responseFormat: "b64_json",
  };
}
