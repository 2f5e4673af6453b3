/**
 * The messages between the page (`web/app.ts`) and its generation worker
 * (`web/worker.ts`). The worker owns the GPU device and the pipeline; the
 * page only sends requests and draws what comes back, so the page never
 * blocks while weights decode or kernels run. Everything here is
 * structured-cloneable; image bytes travel as transferred buffers.
 */
import type { MemoryStats } from "./ideogram4.ts";
import type { ModelSource } from "./model_source.ts";
import type { KeptCheckpoint } from "./opfs_cache.ts";

/** One image request, as read from the form. */
export interface Job {
  prompt: string;
  width: number;
  height: number;
  preset?: string;
  steps?: number;
  seed: number;
  /** Generate even when the JSON caption has issues (they become warnings). */
  warnOnCaptionIssues: boolean;
  /**
   * GPU memory to plan for. Absent: the planner's default
   * (`DEFAULT_GPU_BUDGET_BYTES`), since WebGPU reports no memory size.
   */
  budgetBytes?: number;
}

/** Where a checkpoint is read from, and how the worker recognises it again. */
export interface SourceRef {
  source: ModelSource;
  /** Same key → the open pipeline is reused (a new folder pick gets a new key). */
  sourceKey: string;
  /** Resolves the embedded model's and relative URLs. */
  pageUrl: string;
  /** For a URL source: keep the files in OPFS and read them from there next time. */
  keep?: boolean;
}

/** Page → worker. */
export type ToWorker =
  | {
    type: "generate";
    /** The page's number for this request; every answer about it carries it. */
    id: number;
    job: Job;
  } & SourceRef
  /**
   * Checks the checkpoint (headers and configs only: no weight is read) and
   * plans `job` with the adapter's limits; answered by a `plan` message.
   */
  | { type: "plan"; id: number; job: Job } & SourceRef
  /** Lists the checkpoints kept in OPFS (answered by `kept`). */
  | { type: "list-kept" }
  /** Deletes a kept checkpoint, then lists them (answered by `kept`). */
  | { type: "delete-kept"; key: string }
  /** Cancels request `id`, running (between steps) or still queued. */
  | { type: "cancel"; id: number };

/** Worker → page. */
export type FromWorker =
  /** The worker has a device; `adapter` describes it. */
  | { type: "ready"; adapter: string; memory: MemoryStats }
  /** No adapter or device in the worker. */
  | { type: "no-gpu"; why: string }
  /** The device was lost; nothing more will run. */
  | { type: "lost"; why: string }
  /** Request `id` waits behind `ahead` others. */
  | { type: "queued"; id: number; ahead: number }
  | { type: "started"; id: number }
  /** A stage began: "encoding the prompt", "loading the transformers", … */
  | { type: "stage"; id: number; stage: string }
  | { type: "warning"; id: number; text: string }
  /** A sampling step finished; `memory` is the worker's GPU pool after it. */
  | { type: "step"; id: number; step: number; steps: number; ms: number; memory: MemoryStats }
  | {
    type: "result";
    id: number;
    /** `width * height * 3` bytes, row-major RGB (transferred). */
    rgb: Uint8Array;
    /** The PNG with its text chunks (transferred). */
    png: Uint8Array;
    width: number;
    height: number;
    /** Decimal; a bigint does not survive every structured clone path. */
    seed: string | null;
    /** Preset name, or "custom N steps". */
    plan: string;
    steps: number;
    tokens: number;
    seconds: number;
    /** The pool once the request's tensors are released. */
    memory: MemoryStats;
  }
  /** The checkpoints kept in OPFS (or why they could not be listed). */
  | { type: "kept"; list: KeptCheckpoint[]; error?: string }
  /** The answer to a `plan` request. */
  | {
    type: "plan";
    id: number;
    /** The budget planned for, and where it came from. */
    budget: { bytes: number; from: "you" | "default" };
    /** The worker's device limits the plan used. */
    limits: { maxBufferSize: number; maxStorageBufferBindingSize: number };
    /** What is wrong with the checkpoint (empty when it is usable). */
    problems: string[];
    /** The plan, one line per fact (`formatPlan`); empty with problems. */
    lines: string[];
    /** Whether the request fits the budget (false with problems). */
    fits: boolean;
    /** Why not, when it does not fit. */
    reason?: string;
    /** The request streams DiT blocks. */
    streaming: boolean;
  }
  | {
    type: "failed";
    id: number;
    cancelled: boolean;
    /** Set when a JSON caption was refused: how many issues it has. */
    captionIssues?: number;
    message: string;
    /** The pool once the request's tensors are released. */
    memory: MemoryStats;
  };

/** A plain copy of the pool's counters (the live object is not cloned mid-update). */
export function snapshot(stats: MemoryStats): MemoryStats {
  return {
    liveBytes: stats.liveBytes,
    peakBytes: stats.peakBytes,
    allocatedBytes: stats.allocatedBytes,
  };
}
