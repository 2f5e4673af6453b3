/**
 * A real `serve` on 127.0.0.1 (port 0) over the embedded model for the
 * server tests, with no service keys (a developer's own never leak in), its
 * log captured, and a shutdown when the test body ends. Plus the small
 * readers the tests share: server-sent events and Prometheus samples.
 */
import { setPlatform } from "../../src/platform/mod.ts";
import { denoPlatform } from "../../src/platform/deno.ts";
import { ensureEmbeddedModel } from "../../src/platform/deno/embedded_model.ts";
import { type PromptFlagValues, promptSettingsFromFlags } from "../../src/cli/prompt_commands.ts";
import { DEFAULT_GPU_BUDGET_BYTES } from "../../src/pipeline/memory_plan.ts";
import { ImageEngine } from "../../src/serve/engine.ts";
import { readMetric } from "../../src/serve/metrics.ts";
import { type ApiServer, type ServeOptions, startApiServer } from "../../src/serve/server.ts";

setPlatform(denoPlatform());

export const TINY = await ensureEmbeddedModel();

/** Server options, plus the prompt flags and environment its engine starts with. */
export interface TestServerOptions extends Partial<ServeOptions> {
  promptFlags?: PromptFlagValues;
  env?: Record<string, string>;
}

export async function withApiServer(
  opts: TestServerOptions,
  fn: (server: ApiServer, log: string[]) => Promise<void>,
): Promise<void> {
  const { promptFlags, env, ...serveOpts } = opts;
  const settings = await promptSettingsFromFlags(promptFlags ?? {}, (name) => env?.[name]);
  // A failing service answers at once instead of after retries with backoff.
  const once = { retries: 0, baseDelayMs: 1, maxDelayMs: 1 };
  settings.magicPrompt.retry = once;
  settings.moderation.retry = once;
  const engine = await ImageEngine.open({
    dir: TINY,
    gpuBudgetBytes: DEFAULT_GPU_BUDGET_BYTES,
    keepTextEncoder: true,
    settings,
  });
  const log: string[] = [];
  const server = await startApiServer({
    engine,
    embedded: true,
    port: 0,
    log: (line) => log.push(line),
    ...serveOpts,
  });
  try {
    await fn(server, log);
  } finally {
    await server.shutdown();
  }
}

/** One sample of the server's /metrics (e.g. `ideogram4_jobs_running`). */
export async function metric(server: ApiServer, series: string, key?: string): Promise<number> {
  const res = await fetch(`${server.url}/metrics`, {
    headers: key ? { authorization: `Bearer ${key}` } : {},
  });
  const text = await res.text();
  const v = readMetric(text, series);
  if (v === undefined) throw new Error(`no ${series} in /metrics:\n${text}`);
  return v;
}

/** Polls `check` every 50 ms until it holds; fails after `limitMs` (a bound, not a measurement). */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  limitMs = 120_000,
): Promise<void> {
  const end = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Reads server-sent events one at a time from a response body. */
export class EventReader {
  private reader: ReadableStreamDefaultReader<Uint8Array>;
  private decoder = new TextDecoder();
  private buffer = "";
  constructor(body: ReadableStream<Uint8Array>) {
    this.reader = body.getReader();
  }

  /** The next event, or undefined at the end of the stream. */
  async next(): Promise<{ event: string; data: unknown } | undefined> {
    while (true) {
      const end = this.buffer.indexOf("\n\n");
      if (end >= 0) {
        const block = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1] ?? "message";
        const data = /^data: (.*)$/m.exec(block)?.[1];
        return { event, data: data === undefined ? undefined : JSON.parse(data) };
      }
      const { done, value } = await this.reader.read();
      if (done) return undefined;
      this.buffer += this.decoder.decode(value, { stream: true });
    }
  }

  /** Skips events until one named `name` (which is returned). */
  async until(name: string): Promise<{ event: string; data: unknown }> {
    while (true) {
      const e = await this.next();
      if (!e) throw new Error(`the stream ended before a '${name}' event`);
      if (e.event === name) return e;
      if (e.event === "error") throw new Error(`error event: ${JSON.stringify(e.data)}`);
    }
  }

  cancel(): Promise<void> {
    return this.reader.cancel();
  }
}
