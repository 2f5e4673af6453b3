/**
 * The job queue on its own: first in, first out, one at a time; refused
 * when full with a Retry-After estimate; a caller that gives up leaves the
 * queue (waiting) or has its job's signal aborted (running).
 */
import { assert, assertEquals } from "../assert.ts";
import { JobQueue, QueueFullError } from "../../src/serve/queue.ts";

/** A job that runs until `finish()` or its signal aborts. */
function gate() {
  let finish!: (v: string) => void;
  let seen: AbortSignal | undefined;
  const started: string[] = [];
  const job = (name: string) => (signal: AbortSignal) => {
    started.push(name);
    seen = signal;
    return new Promise<string>((resolve, reject) => {
      finish = resolve;
      signal.addEventListener("abort", () => reject(signal.reason), { once: true });
    });
  };
  return { job, started, finish: (v: string) => finish(v), signal: () => seen };
}

Deno.test("queue: FIFO, one at a time, 429 when full, cancellation queued and running", async () => {
  const q = new JobQueue(2);
  const g = gate();
  const a = q.submit(g.job("a"));
  const bCaller = new AbortController();
  const b = q.submit(g.job("b"), bCaller.signal);
  const c = q.submit(g.job("c"));
  assertEquals([a.position, b.position, c.position], [0, 1, 2]);
  assertEquals([q.length, q.busy, g.started], [2, true, ["a"]]);
  let full: unknown;
  try {
    q.submit(g.job("d"));
  } catch (e) {
    full = e;
  }
  assert(full instanceof QueueFullError, String(full));
  assertEquals((full as QueueFullError).retryAfterS >= 1, true);

  // b gives up while waiting: it leaves, c moves up, nothing of b ever runs.
  bCaller.abort(new Error("b gone"));
  let bError: unknown;
  await b.done.catch((e) => bError = e);
  assertEquals((bError as Error).message, "b gone");
  assertEquals([q.length, q.cancelled], [1, 1]);

  g.finish("A");
  assertEquals(await a.done, "A");
  await new Promise((r) => setTimeout(r, 0));
  assertEquals(g.started, ["a", "c"]);

  // A running job whose caller gives up: its signal aborts, the job rejects.
  g.finish("C");
  assertEquals(await c.done, "C");
  const eCaller = new AbortController();
  const e = q.submit(g.job("e"), eCaller.signal);
  assertEquals(e.position, 0);
  eCaller.abort(new Error("e gone"));
  assertEquals(g.signal()?.aborted, true);
  let eError: unknown;
  await e.done.catch((err) => eError = err);
  assertEquals((eError as Error).message, "e gone");
  assertEquals([q.cancelled, q.busy, q.length], [2, false, 0]);
  await q.drained();
  assert(q.meanJobSeconds !== undefined);

  // Capacity 0: only the running job; the next one is refused at once.
  const solo = new JobQueue(0);
  const h = gate();
  const only = solo.submit(h.job("x"));
  let refused = false;
  try {
    solo.submit(h.job("y"));
  } catch (err) {
    refused = err instanceof QueueFullError;
  }
  assert(refused);
  h.finish("X");
  assertEquals(await only.done, "X");
});
