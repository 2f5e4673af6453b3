/**
 * `serve`: the HTTP server that keeps the model warm (src/serve/server.ts).
 * Flags pick the model and services once; each request then pays only for
 * its own sampling. Runs until SIGINT / SIGTERM, then cancels what is in
 * flight and frees the GPU. Exit 2 for bad flags, 1 when the model or the
 * port cannot be opened.
 */
import { parseArgs } from "node:util";
import { redact, rememberSecret } from "../redact.ts";
import { PromptError } from "../prompt/errors.ts";
import { UsageError } from "./usage_error.ts";
import { type ApiServer, DEFAULT_PORT, startApiServer } from "../serve/server.ts";
import type { GenerateIo } from "./generate_command.ts";
import { intOption } from "./generate_request.ts";
import { denoIo, PROMPT_FLAGS_USAGE } from "./prompt_commands.ts";
import { openEngineFromFlags, WARM_MODEL_FLAGS, WARM_MODEL_USAGE } from "./warm_model.ts";

/** Environment variable holding the bearer token when --api-key is not given. */
export const API_KEY_ENV = "IDEOGRAM4_API_KEY";

export const SERVE_USAGE = `usage: serve [flags]

An HTTP server that loads the model once and keeps it on the GPU:
  POST /v1/images/generations   OpenAI-compatible (prompt, n, size, response_format,
                                model, plus seed, preset, steps, guidance)
  POST /v1/ideogram4/generate   generate's options as JSON keys ("sampler-preset", …)
  GET  /v1/models  GET /healthz  GET /metrics (Prometheus)
One request runs at a time; others wait in a bounded queue (429 when it is full).

  --host HOST               address to listen on (default 127.0.0.1)
  --port N                  port (default ${DEFAULT_PORT}; 0 picks a free one)
  --api-key KEY             require "Authorization: Bearer KEY" (env ${API_KEY_ENV})
  --queue-size N            requests that may wait while one runs (default 8)
  --max-images N            largest n per request (default 4)
  --max-body-kib N          largest request body (default 1024)
  --timeout S               seconds a request may take, queue included (default 900)
  --model-name NAME         the name /v1/models lists (default ideogram-4)

${WARM_MODEL_USAGE}

${PROMPT_FLAGS_USAGE}`;

const SERVE_FLAGS = {
  ...WARM_MODEL_FLAGS,
  host: { type: "string", default: "127.0.0.1" },
  port: { type: "string" },
  "api-key": { type: "string" },
  "queue-size": { type: "string" },
  "max-images": { type: "string" },
  "max-body-kib": { type: "string" },
  timeout: { type: "string" },
  "model-name": { type: "string" },
} as const;

/** A whole number ≥ `min` from a flag, or its default. */
function count(name: string, v: string | undefined, fallback: number, min: number): number {
  const n = intOption(name, v) ?? fallback;
  if (n < min) throw new UsageError(`--${name} ${v}: must be at least ${min}`);
  return n;
}

export interface ServeHooks {
  /** Called once listening (tests): the server, to shut down instead of a signal. */
  onListen?: (server: ApiServer) => void;
  /** Resolves when the server should stop; default: SIGINT or SIGTERM. */
  stop?: Promise<void>;
}

/** `serve …` → exit code (after the server stops). */
export async function runServe(
  args: string[],
  io: GenerateIo = denoIo,
  hooks: ServeHooks = {},
): Promise<number> {
  // Every line, the request log and errors included, passes the redaction.
  const raw = io;
  io = { ...raw, stderr: (text) => raw.stderr(redact(text)) };
  let server: ApiServer;
  let quiet = false;
  try {
    let parsed;
    try {
      parsed = parseArgs({ args, options: SERVE_FLAGS, allowPositionals: false });
    } catch (e) {
      throw new UsageError(`${e instanceof Error ? e.message : e}\n\n${SERVE_USAGE}`);
    }
    const v = parsed.values;
    if (v.help) {
      io.stdout(SERVE_USAGE);
      return 0;
    }
    quiet = v.quiet === true;
    const port = count("port", v.port, DEFAULT_PORT, 0);
    if (port > 65535) throw new UsageError(`--port ${v.port}: must be at most 65535`);
    const queueSize = count("queue-size", v["queue-size"], 8, 0);
    const maxImages = count("max-images", v["max-images"], 4, 1);
    const maxBodyKib = count("max-body-kib", v["max-body-kib"], 1024, 1);
    const timeoutS = count("timeout", v.timeout, 900, 1);
    const env = io.env ?? ((name: string) => Deno.env.get(name));
    const apiKey = v["api-key"] ?? env(API_KEY_ENV);
    if (apiKey !== undefined && apiKey.trim() === "") {
      throw new UsageError(`the API key (--api-key or ${API_KEY_ENV}) is empty`);
    }
    if (apiKey !== undefined) rememberSecret(apiKey.trim());
    const { engine, embedded } = await openEngineFromFlags(v, io);
    try {
      server = await startApiServer({
        engine,
        embedded,
        modelName: v["model-name"],
        hostname: v.host,
        port,
        apiKey: apiKey?.trim(),
        queueSize,
        maxImages,
        maxBodyBytes: maxBodyKib * 1024,
        timeoutS,
        log: quiet ? undefined : (line) => io.stderr(line),
      });
    } catch (e) {
      engine.close();
      throw e;
    }
    io.stderr(
      `listening on ${server.url} (${apiKey ? "API key required" : "no API key"}); ` +
        "the weights load with the first request",
    );
  } catch (e) {
    io.stderr(`serve: ${e instanceof Error ? e.message : String(e)}`);
    return (e instanceof PromptError || e instanceof UsageError) && e.exitCode === 2 ? 2 : 1;
  }
  hooks.onListen?.(server);
  await (hooks.stop ?? stopSignal());
  if (!quiet) io.stderr("stopping: cancelling requests in flight");
  await server.shutdown();
  return 0;
}

/** Resolves on the first SIGINT or SIGTERM. */
function stopSignal(): Promise<void> {
  return new Promise((resolve) => {
    const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
    const handler = () => {
      for (const s of signals) Deno.removeSignalListener(s, handler);
      resolve();
    };
    for (const s of signals) Deno.addSignalListener(s, handler);
  });
}
