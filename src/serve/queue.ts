/**
 * One GPU, one job at a time: a bounded first-in first-out queue. A job
 * waits while another runs; when `capacity` jobs already wait, a new one is
 * refused at once ({@link QueueFullError}, the server's 429) instead of
 * piling up requests nobody will wait for. A job whose caller gives up
 * (its signal aborts) leaves the queue if it has not started, or has its
 * own signal aborted if it is running (the pipeline stops at the next step).
 */

/** The queue is full; `retryAfterS` estimates when a place frees up. */
export class QueueFullError extends Error {
  override name = "QueueFullError";
  constructor(readonly waiting: number, readonly retryAfterS: number) {
    super(`the queue is full (${waiting} requests waiting); retry in about ${retryAfterS} s`);
  }
}

interface Entry {
  run: (signal: AbortSignal) => Promise<unknown>;
  controller: AbortController;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  onStart?: () => void;
}

export interface Submitted<T> {
  /** Jobs ahead of this one when it was queued (0: it started at once). */
  position: number;
  done: Promise<T>;
}

export class JobQueue {
  private waiting: Entry[] = [];
  private running?: Entry;
  /** Jobs finished and their total seconds (for the Retry-After estimate). */
  private finished = 0;
  private seconds = 0;
  /** Jobs cancelled (caller gone or timed out), queued or running. */
  cancelled = 0;

  /** `capacity`: how many jobs may wait besides the running one. */
  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 0) {
      throw new Error(`queue capacity ${capacity}: must be an integer ≥ 0`);
    }
  }

  /** Jobs waiting (not counting the running one). */
  get length(): number {
    return this.waiting.length;
  }

  get busy(): boolean {
    return this.running !== undefined;
  }

  /** Resolves when no job runs or waits (at shutdown, after cancelling them). */
  async drained(): Promise<void> {
    while (this.running || this.waiting.length > 0) {
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    }
  }

  private idleWaiters: (() => void)[] = [];

  /** Mean seconds per finished job (undefined before the first). */
  get meanJobSeconds(): number | undefined {
    return this.finished > 0 ? this.seconds / this.finished : undefined;
  }

  /**
   * Queues `run`. Throws {@link QueueFullError} when full. `signal` is the
   * caller's: aborting it cancels the job wherever it is, and `done` rejects
   * with its reason. `onStart` is called when the job leaves the queue.
   */
  submit<T>(
    run: (signal: AbortSignal) => Promise<T>,
    signal?: AbortSignal,
    onStart?: () => void,
  ): Submitted<T> {
    signal?.throwIfAborted();
    const ahead = this.waiting.length + (this.running ? 1 : 0);
    if (this.running && this.waiting.length >= this.capacity) {
      const mean = this.meanJobSeconds ?? 60;
      throw new QueueFullError(this.waiting.length, Math.max(1, Math.ceil(mean * ahead)));
    }
    const controller = new AbortController();
    const done = new Promise<T>((resolve, reject) => {
      const entry: Entry = {
        run,
        controller,
        resolve: resolve as (v: unknown) => void,
        reject,
        onStart,
      };
      signal?.addEventListener("abort", () => this.cancel(entry, signal.reason), { once: true });
      this.waiting.push(entry);
    });
    this.pump();
    return { position: ahead, done };
  }

  private cancel(entry: Entry, reason: unknown): void {
    const i = this.waiting.indexOf(entry);
    if (i >= 0) {
      this.waiting.splice(i, 1);
      this.cancelled++;
      entry.reject(reason);
    } else if (this.running === entry && !entry.controller.signal.aborted) {
      this.cancelled++;
      entry.controller.abort(reason);
    }
  }

  private pump(): void {
    if (this.running || this.waiting.length === 0) return;
    const entry = this.waiting.shift()!;
    this.running = entry;
    const t0 = performance.now();
    entry.onStart?.();
    (async () => {
      try {
        entry.resolve(await entry.run(entry.controller.signal));
      } catch (e) {
        entry.reject(e);
      } finally {
        this.finished++;
        this.seconds += (performance.now() - t0) / 1000;
        this.running = undefined;
        this.pump();
        if (!this.running) { for (const wake of this.idleWaiters.splice(0)) wake(); }
      }
    })();
  }
}
