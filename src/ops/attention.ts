/**
 * Flash-style multi-head attention (`shaders/attention.wgsl`): grouped-query,
 * optionally causal (bottom-right aligned), any head dim that is a multiple
 * of 4 up to 512, f32 or f16 activations with f32 arithmetic. The Lq×Lk
 * score matrix is never stored: each workgroup keeps BQ queries' outputs in
 * registers and streams the keys through workgroup memory in tiles of BK,
 * with an online softmax (see the shader's header for the full design).
 * CPU reference: `attention_ref.ts`.
 *
 * Used by the Qwen3 text encoder (causal, 32 query / 8 kv heads, D = 128),
 * the DiT (18 heads, D = 256, full attention over up to ~20k tokens) and the
 * VAE mid-block (one head, D = 512, over all latent pixels).
 *
 * Design, and why (measured on lavapipe, where a workgroup or storage read
 * is a per-lane loop and costs far more than the FMAs it feeds, so reads per
 * FMA decide the speed):
 * - 128 threads per workgroup, one head and a block of 64 queries (32 for
 *   D = 512). Every K/V element staged in workgroup memory serves the whole
 *   query block.
 * - P·V: thread (row group, column) owns 8 consecutive query rows × every
 *   16th vec4 of the head dim (at most 32 vec4 accumulators = 128 floats,
 *   which is what bounds blockQ for large D): for each 4 keys it reads one
 *   P vec4 per row and 4 V vec4s per column chunk and does rows × chunks ×
 *   4 vec4 FMAs. V is staged a run of keys at a time with the whole head
 *   dim, so every accumulator index is a constant of the unrolled loops.
 * - Scores: the 64 × 32 tile gets its own, square split (4 rows × 4 keys
 *   per thread, one vec4 read per 4 dot products). K is staged 32 vec4s of
 *   the head dim at a time; q is read straight from global memory (a staged
 *   Q tile would be read back once per write, and its room goes to K).
 * - Few barriers per key tile: 6 for D = 128 (one K chunk, one V chunk),
 *   10 for D = 256; a barrier suspends every SIMD batch of threads on
 *   software adapters. {@link attentionTiling} picks, within the adapter's
 *   workgroup memory (26 KiB of 32; a smaller tiling for the 16 KiB
 *   minimum), the largest query block, then the fewest barriers per key.
 * - Staging is f32 even for f16 activations: the values are converted once
 *   per load instead of once per use in the inner loops.
 * - Softmax in log2 units: the scores are multiplied by `scale · log2(e)`
 *   once; exp2 everywhere, one divide per output row.
 * - Causal: a block stops at the last key its last query sees, and a thread
 *   whose rows see none of a tile's keys skips its dot products and FMAs
 *   (threads own consecutive rows so that this happens along the diagonal).
 * - Software adapters: Mesa's llvmpipe ends a shader's loops after 65535
 *   iterations in total, which ~1500 key tiles reach (the VAE's mid-block
 *   at 1024² has 16384 keys of D = 512). There the keys are split into
 *   dispatches of a bounded number of tiles that hand the f32 accumulators
 *   and running max / sum on through two scratch buffers.
 */
import attentionWgsl from "../../shaders/attention.wgsl" with { type: "text" };
import type { GpuContext } from "../gpu/context.ts";
import { declareKernel } from "../gpu/declare_kernel.ts";
import { shapeStr, Tensor } from "../gpu/tensor.ts";
import { type ActDType, actType, assertActivation } from "./common.ts";

/** Options of {@link attention}. */
export interface AttentionOptions {
  /** Key j is visible to query i iff `j <= i + (Lk - Lq)`. Default false. */
  causal?: boolean;
  /** Softmax scale; default `1 / sqrt(D)`. */
  scale?: number;
  /** Write here instead of a new tensor (`[Lq, Hq, D]`, q's dtype, not one of q/k/v's buffers). */
  out?: Tensor;
  /**
   * Plan tiles for at most this much workgroup memory (bytes) instead of the
   * device's `maxComputeWorkgroupStorageSize` (which still caps it): lets
   * tests and benchmarks run the small-memory tiling on any adapter.
   */
  maxWorkgroupBytes?: number;
  /**
   * Split the keys into dispatches of this many (rounded down to a multiple
   * of the key tile, at least one tile), as software adapters do by
   * themselves to stay under Mesa's loop cap: lets tests run the split on
   * any adapter. Default: all keys in one dispatch on GPUs.
   */
  keysPerDispatch?: number;
}

/** Tile sizes of one attention kernel variant (the shader's header constants). */
export interface AttentionTiling {
  /** Head dim in vec4s (`D / 4`). */
  dVec: number;
  /** Threads across the head dim in the P·V step (a power of two). */
  colThreads: number;
  /** Threads across the query rows in the P·V step. */
  rowThreads: number;
  /** Query rows per thread in the P·V step; blockQ = rowThreads · rowsPerThread. */
  rowsPerThread: number;
  blockQ: number;
  /** Keys per K/V tile. */
  blockK: number;
  /** Query rows / keys per thread in the score step (its own split of the tile). */
  scoreRows: number;
  scoreKeys: number;
  /** vec4 columns of the head dim per K staging chunk of the score step. */
  scoreChunk: number;
  /** Keys per V staging chunk of the P·V step (all of the head dim at once). */
  valueKeys: number;
  /** Output column chunks (of colThreads vec4s) each thread accumulates. */
  outChunks: number;
  /** Workgroup barriers per K/V tile. */
  barriers: number;
  /** Workgroup memory the variant uses, bytes. */
  workgroupBytes: number;
}

/** Largest supported head dim: the output accumulators live in registers. */
export const ATTENTION_MAX_HEAD_DIM = 512;

const COL_THREADS = 16;
const ROW_THREADS = 8;
/** Threads per workgroup. */
const THREADS = COL_THREADS * ROW_THREADS;
/** At most this many vec4 accumulators per thread (128 floats) in the P·V step. */
const MAX_ACC_VEC4 = 32;
/** At most this many query rows per thread in the P·V step. */
const MAX_ROWS = 8;
/** At most this many scores per thread in the score step. */
const MAX_SCORES = 32;

function kvTileVec4(blockK: number, scoreChunk: number, valueKeys: number, outChunks: number) {
  return Math.max(blockK * (scoreChunk + 1), valueKeys * outChunks * COL_THREADS);
}

function tilingBytes(
  blockQ: number,
  blockK: number,
  scoreChunk: number,
  valueKeys: number,
  outChunks: number,
): number {
  const pTile = blockQ * (blockK / 4 + 1);
  return (kvTileVec4(blockK, scoreChunk, valueKeys, outChunks) + pTile) * 16 + blockQ * 4;
}

/**
 * Picks tile sizes for head dim `headDim` within `maxBytes` of workgroup
 * memory: the largest query block first (every K/V element staged is reused
 * by blockQ queries, and more rows per thread means fewer reads per FMA),
 * then the fewest workgroup barriers per key (K staged in wider chunks of
 * the head dim, V in longer runs of keys). The score step splits the
 * blockQ × blockK tile as squarely as it can among the threads. With
 * 32 KiB: D ≤ 128 → 64 queries × 32 keys in one K and one V chunk,
 * D = 256 → 64 × 32, D = 512 → 32 × 32.
 */
export function attentionTiling(headDim: number, maxBytes: number): AttentionTiling {
  const dVec = headDim / 4;
  const outChunks = Math.ceil(dVec / COL_THREADS);
  // A power of two, so that the score step's split divides the tile evenly.
  let maxRows = 1;
  while (maxRows * 2 <= MAX_ROWS && maxRows * 2 * outChunks <= MAX_ACC_VEC4) maxRows *= 2;
  for (let rowsPerThread = maxRows; rowsPerThread >= 1; rowsPerThread >>= 1) {
    const blockQ = ROW_THREADS * rowsPerThread;
    let best: AttentionTiling | undefined;
    for (const blockK of [64, 32, 16]) {
      const scores = blockQ * blockK / THREADS;
      if (scores > MAX_SCORES || scores < 1) continue;
      // As square as possible: scoreRows ≤ scoreKeys, both powers of two.
      let scoreRows = 1;
      while (scoreRows * scoreRows * 4 <= scores) scoreRows *= 2;
      const scoreKeys = scores / scoreRows;
      for (const chunk of [32, 16, 8, 4]) {
        const scoreChunk = Math.min(chunk, dVec);
        for (let valueKeys = blockK; valueKeys >= 4; valueKeys >>= 1) {
          const workgroupBytes = tilingBytes(blockQ, blockK, scoreChunk, valueKeys, outChunks);
          if (workgroupBytes > maxBytes) continue;
          const barriers = 2 * Math.ceil(dVec / scoreChunk) + 2 + 2 * (blockK / valueKeys);
          const t: AttentionTiling = {
            dVec,
            colThreads: COL_THREADS,
            rowThreads: ROW_THREADS,
            rowsPerThread,
            blockQ,
            blockK,
            scoreRows,
            scoreKeys,
            scoreChunk,
            valueKeys,
            outChunks,
            barriers,
            workgroupBytes,
          };
          if (!best || barriers / blockK < best.barriers / best.blockK) best = t;
        }
      }
    }
    if (best) return best;
  }
  const smallest = tilingBytes(ROW_THREADS, 16, 1, 4, outChunks);
  throw new Error(
    `attention: head dim ${headDim} needs ${smallest} bytes of workgroup memory, ` +
      `the limit is ${maxBytes}`,
  );
}

/**
 * Loop iterations per key tile, counting every loop of the shader whose
 * body is not a register-array access (those are unrolled): an upper bound
 * for llvmpipe's per-invocation loop cap. Measured on lavapipe: D = 512
 * tiles run ≈ 260–340 iterations, D = 128 ≈ 45–65; this gives 342 and 100.
 */
function loopItersPerTile(t: AttentionTiling): number {
  const threads = t.colThreads * t.rowThreads;
  const kLoads = Math.ceil(t.blockK * t.scoreChunk / threads);
  const vLoads = Math.ceil(t.valueKeys * t.outChunks * t.colThreads / threads);
  return Math.ceil(t.dVec / t.scoreChunk) * (1 + kLoads + t.scoreChunk) + 2 * (t.blockK / 4) +
    (t.blockK / t.valueKeys) * (1 + vLoads + t.valueKeys / 4) +
    t.scoreRows * t.scoreKeys + t.rowsPerThread + 2;
}

/**
 * Loop iterations one dispatch may spend on key tiles on a software adapter:
 * half of llvmpipe's 65535, leaving room for the estimate's error and the
 * loops outside the key loop.
 */
const SOFTWARE_LOOP_BUDGET = 32768;

/** Keys per dispatch: all of them on GPUs, a bounded run of tiles on software adapters. */
function keyChunk(ctx: GpuContext, t: AttentionTiling, requested?: number): number {
  if (requested !== undefined) {
    if (!Number.isInteger(requested) || requested < 1) {
      throw new Error(`attention: keysPerDispatch ${requested} is not a positive integer`);
    }
    return Math.max(1, Math.floor(requested / t.blockK)) * t.blockK;
  }
  if (!ctx.isSoftware) return Infinity;
  return Math.max(1, Math.floor(SOFTWARE_LOOP_BUDGET / loopItersPerTile(t))) * t.blockK;
}

const ATTENTION = /* @__PURE__ */ declareKernel({
  name: "attention",
  source: attentionWgsl,
  params: {
    lq: "u32",
    lk: "u32",
    hq: "u32",
    hkv: "u32",
    group: "u32", // Hq / Hkv: query heads per kv head
    causal: "u32",
    causal_offset: "i32", // Lk − Lq: key j is visible to query i iff j ≤ i + causal_offset
    q_scale: "f32", // softmax scale × log2(e), applied to the scores
    k_begin: "u32", // this dispatch's keys: [k_begin, k_stop), k_begin a multiple of BK
    k_stop: "u32",
    resume: "u32", // 1: load the state a previous key chunk stored
    more: "u32", // 1: store the state for the next key chunk instead of writing out
  },
  entries: {
    main: {
      q: "read array<vec4<act_t>>",
      k: "read array<vec4<act_t>>",
      v: "read array<vec4<act_t>>",
      out: "read_write array<vec4<act_t>>",
      acc_state: "read_write array<vec4<f32>>",
      row_state: "read_write array<vec2<f32>>",
    },
  },
  workgroupSize: "variant", // COL_THREADS × ROW_THREADS, from the tiling
  variant: (v: AttentionTiling & { act_t: ActDType }) => ({
    aliases: { act_t: v.act_t },
    consts: {
      WG: v.colThreads * v.rowThreads,
      D_VEC: v.dVec,
      TC: v.colThreads,
      TR: v.rowThreads,
      OQ: v.rowsPerThread,
      BQ: v.blockQ,
      BK: v.blockK,
      OQS: v.scoreRows,
      SKS: v.scoreKeys,
      TRS: v.blockQ / v.scoreRows,
      TCS: v.blockK / v.scoreKeys,
      DCS: v.scoreChunk,
      KP: v.scoreChunk + 1,
      KS: v.valueKeys,
      VC: v.outChunks * v.colThreads,
      PP: v.blockK / 4 + 1,
      NCH: v.outChunks,
      KV_TILE: kvTileVec4(v.blockK, v.scoreChunk, v.valueKeys, v.outChunks),
    },
  }),
});

function checkInputs(q: Tensor, k: Tensor, v: Tensor): void {
  for (const [name, t] of [["q", q], ["k", k], ["v", v]] as const) {
    assertActivation(t, "attention");
    if (t.shape.length !== 3 || t.shape.some((n) => !Number.isInteger(n) || n < 1)) {
      throw new Error(
        `attention: ${name} '${t.label}' has shape ${shapeStr(t.shape)}; expected [L, heads, D]`,
      );
    }
  }
  if (k.dtype !== q.dtype || v.dtype !== q.dtype) {
    throw new Error(`attention: dtypes differ (q ${q.dtype}, k ${k.dtype}, v ${v.dtype})`);
  }
  if (k.shape.join() !== v.shape.join()) {
    throw new Error(
      `attention: k '${k.label}' ${shapeStr(k.shape)} and v '${v.label}' ${
        shapeStr(v.shape)
      } differ in shape`,
    );
  }
  const [, hq, d] = q.shape, [, hkv, dk] = k.shape;
  if (dk !== d) {
    throw new Error(
      `attention: head dims differ (q '${q.label}' ${shapeStr(q.shape)}, k '${k.label}' ${
        shapeStr(k.shape)
      })`,
    );
  }
  if (d % 4 !== 0 || d > ATTENTION_MAX_HEAD_DIM) {
    throw new Error(
      `attention: head dim ${d} is not supported (a multiple of 4 up to ${ATTENTION_MAX_HEAD_DIM})`,
    );
  }
  if (hq % hkv !== 0) {
    throw new Error(
      `attention: ${hq} query heads (q '${q.label}') are not a multiple of ${hkv} kv heads ` +
        `(k '${k.label}')`,
    );
  }
}

/**
 * `softmax(scale · q·kᵀ) · v` per query head: q `[Lq, Hq, D]`, k and v
 * `[Lk, Hkv, D]` (contiguous; Hq a multiple of Hkv, query head h uses kv head
 * `floor(h / (Hq / Hkv))`). Returns `[Lq, Hq, D]` in q's dtype (or fills
 * `opts.out`). Records one dispatch; never waits.
 */
export function attention(
  ctx: GpuContext,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  opts: AttentionOptions = {},
): Tensor {
  checkInputs(q, k, v);
  const [lq, hq, d] = q.shape, [lk, hkv] = k.shape;
  const scale = opts.scale ?? 1 / Math.sqrt(d);
  if (!Number.isFinite(scale)) throw new Error(`attention: scale ${scale} is not finite`);
  const limit = ctx.limits.maxComputeWorkgroupStorageSize;
  const tiling = attentionTiling(d, Math.min(limit, opts.maxWorkgroupBytes ?? limit));
  const keysPerDispatch = keyChunk(ctx, tiling, opts.keysPerDispatch);
  const out = opts.out ?? Tensor.empty(ctx, q.shape, q.dtype, "attention");
  if (opts.out) {
    if (out.shape.join() !== q.shape.join() || out.dtype !== q.dtype) {
      throw new Error(
        `attention: out '${out.label}' is ${shapeStr(out.shape)} ${out.dtype}; expected ${
          shapeStr(q.shape)
        } ${q.dtype}`,
      );
    }
    if ([q, k, v].some((t) => t.buffer === out.buffer)) {
      throw new Error(`attention: out '${out.label}' shares a buffer with q, k or v`);
    }
  }

  const chunked = lk > keysPerDispatch;
  // The state buffers: real ones when the keys are split, else 16-byte stand-ins.
  const accState = Tensor.empty(ctx, chunked ? [lq, hq, d] : [4], "f32", "attention state");
  const rowState = Tensor.empty(ctx, chunked ? [lq, hq, 2] : [4], "f32", "attention row state");
  for (let k0 = 0; k0 < lk; k0 += keysPerDispatch) {
    ATTENTION.dispatch(ctx, {
      variant: { ...tiling, act_t: actType(q.dtype) },
      params: {
        lq,
        lk,
        hq,
        hkv,
        group: hq / hkv,
        causal: opts.causal ? 1 : 0,
        causal_offset: lk - lq,
        q_scale: scale * Math.LOG2E,
        k_begin: k0,
        k_stop: Math.min(lk, k0 + keysPerDispatch),
        resume: k0 > 0 ? 1 : 0,
        more: k0 + keysPerDispatch < lk ? 1 : 0,
      },
      bindings: {
        q: q.binding,
        k: k.binding,
        v: v.binding,
        out: out.binding,
        acc_state: accState.binding,
        row_state: rowState.binding,
      },
      workgroups: [Math.ceil(lq / tiling.blockQ), hq],
    });
  }
  // Safe to recycle now: later commands that reuse the buffers run after these.
  accState.release();
  rowState.release();
  return out;
}
