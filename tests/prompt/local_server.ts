/**
 * A scripted HTTP server on 127.0.0.1 for the network-client tests: each
 * request gets the next scripted reply (the last one repeats), and every
 * request is recorded (method, path, headers, body or multipart form) so a
 * test can check what the client sent. Shut down when the test body ends.
 */

export interface Recorded {
  method: string;
  path: string;
  headers: Headers;
  /** Body text (empty for multipart; see `form`). */
  body: string;
  form?: FormData;
}

export interface Reply {
  status?: number;
  /** Sent as JSON. */
  json?: unknown;
  /** Sent verbatim (when `json` is absent). */
  text?: string;
  headers?: Record<string, string>;
  /** Never answer (until the client gives up or the test ends). */
  hang?: boolean;
}

export type Script = Reply | ((req: Recorded, index: number) => Reply);

/** Runs `fn` with the base URL of a server answering with `script`, then shuts it down. */
export async function withServer(
  script: Script[],
  fn: (baseUrl: string, requests: Recorded[]) => Promise<void>,
): Promise<void> {
  const requests: Recorded[] = [];
  const hanging: (() => void)[] = [];
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    async (req) => {
      const url = new URL(req.url);
      const multipart = req.headers.get("content-type")?.startsWith("multipart/form-data");
      const rec: Recorded = {
        method: req.method,
        path: url.pathname,
        headers: req.headers,
        body: multipart ? "" : await req.text(),
        form: multipart ? await req.formData() : undefined,
      };
      const index = requests.length;
      requests.push(rec);
      const step = script[Math.min(index, script.length - 1)];
      const reply = typeof step === "function" ? step(rec, index) : step;
      if (reply.hang) {
        // Released when the test body ends (the client has given up by then).
        await new Promise<void>((resolve) => hanging.push(resolve));
      }
      const body = reply.json !== undefined ? JSON.stringify(reply.json) : reply.text ?? "";
      const headers = {
        ...(reply.json !== undefined ? { "content-type": "application/json" } : {}),
        ...reply.headers,
      };
      return new Response(body, { status: reply.status ?? 200, headers });
    },
  );
  try {
    await fn(`http://127.0.0.1:${server.addr.port}`, requests);
  } finally {
    for (const release of hanging) release();
    await server.shutdown();
  }
}

/** Retry settings that keep tests fast. */
export const FAST_RETRY = { retries: 2, baseDelayMs: 10, maxDelayMs: 200 };
