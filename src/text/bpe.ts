/**
 * Byte-level BPE: one pre-tokenized word → token ids.
 *
 * The word's UTF-8 bytes start as one symbol each (the vocabulary has all 256
 * byte characters, see `byte_level.ts`); then, as in `tokenizers`, the
 * adjacent pair with the lowest merge rank is merged, the leftmost first on
 * ties, until no adjacent pair has a merge. A binary heap of candidate pairs
 * over a linked list of symbols keeps this O(n log n) in the word length, so
 * a pathological "word" (thousands of identical punctuation marks) costs no
 * more than its size.
 *
 * Symbols and merges work on ids, not strings: a merge is looked up by the
 * pair of ids in an open-addressing table of typed arrays (building it for
 * Qwen's 151k merges takes milliseconds, where a `Map` takes ~150 ms) and
 * gives its rank and the merged id, all checked against the vocabulary at
 * load. Only byte and merged ids can come out, so those checks cover every
 * id `encode` returns.
 * Results are cached per word: captions repeat words, and a cache hit costs
 * one `Map` lookup.
 */
import { BYTE_TO_CHAR, utf8Bytes } from "./byte_level.ts";

/** Words cached before the cache is emptied (bounds memory for endless streams of new words). */
const CACHE_LIMIT = 100_000;

/** Vocabulary lookup: token text (byte characters) → id, or undefined. */
export type VocabLookup = (token: string) => number | undefined;

export interface BpeOptions {
  /** A word that is itself a vocabulary token is emitted as is (`model.ignore_merges`). */
  ignoreMerges?: boolean;
  /** Prefix used in error messages, e.g. `tokenizer.json: model`. */
  where?: string;
}

export class BytePairEncoder {
  /** Byte value → id of its one-byte token. */
  private readonly byteIds = new Int32Array(256);
  /** (left id, right id) → merge rank. */
  private readonly ranks: PairTable;
  /** Merge rank → id of the merged token. */
  private readonly mergedIds: Int32Array;
  private readonly cache = new Map<string, readonly number[]>();
  private readonly ignoreMerges: boolean;

  /**
   * @param vocab token text (byte characters) → id
   * @param merges pairs in rank order (rank = index)
   */
  constructor(
    private readonly vocab: VocabLookup,
    merges: ReadonlyArray<readonly [string, string]>,
    opts: BpeOptions = {},
  ) {
    const where = opts.where ?? "model";
    this.ignoreMerges = opts.ignoreMerges ?? false;
    const idOf = (token: string, what: string): number => {
      const id = vocab(token);
      if (id === undefined) {
        throw new Error(
          `${where}.${what}: token ${JSON.stringify(token)} is not in the vocabulary`,
        );
      }
      if (!Number.isInteger(id) || id < 0 || id > 0x7fffffff) {
        throw new Error(`${where}.vocab[${JSON.stringify(token)}]: ${id} is not a valid id`);
      }
      return id;
    };
    for (let b = 0; b < 256; b++) {
      const hex = b.toString(16).padStart(2, "0");
      this.byteIds[b] = idOf(
        BYTE_TO_CHAR[b],
        `vocab (byte 0x${hex}; not a byte-level vocabulary?)`,
      );
    }
    this.mergedIds = new Int32Array(merges.length);
    this.ranks = new PairTable(merges.length);
    for (let r = 0; r < merges.length; r++) {
      const [a, b] = merges[r];
      const what = `merges[${r}]`;
      // A repeated pair takes its last rank: `tokenizers` collects merges into a map the same way.
      this.ranks.set(idOf(a, what), idOf(b, what), r);
      this.mergedIds[r] = idOf(a + b, what);
    }
  }

  /** Number of merges. */
  get mergeCount(): number {
    return this.mergedIds.length;
  }

  /** Appends the ids of one pre-tokenized word (raw text, not yet byte-mapped) to `out`. */
  encodeWord(word: string, out: number[]): void {
    let ids = this.cache.get(word);
    if (ids === undefined) {
      ids = this.merge(word);
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
      this.cache.set(word, ids);
    }
    for (let i = 0; i < ids.length; i++) out.push(ids[i]);
  }

  /** Forgets cached words. */
  clearCache(): void {
    this.cache.clear();
  }

  private merge(word: string): number[] {
    const bytes = utf8Bytes(word);
    const n = bytes.length;
    if (this.ignoreMerges) {
      const whole = this.vocab(bytes.map((b) => BYTE_TO_CHAR[b]).join(""));
      if (whole !== undefined) return [whole];
    }
    const sym = new Int32Array(n);
    for (let i = 0; i < n; i++) sym[i] = this.byteIds[bytes[i]];
    if (n < 2) return Array.from(sym);
    // Doubly linked list over positions; a merged-away position gets sym = -1.
    const next = new Int32Array(n), prev = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    const heap = new MergeHeap();
    const push = (left: number) => {
      const right = next[left];
      if (right < 0) return;
      const rank = this.ranks.get(sym[left], sym[right]);
      if (rank >= 0) heap.push(rank, left);
    };
    for (let i = 0; i + 1 < n; i++) push(i);
    while (heap.size > 0) {
      const { rank, pos } = heap.pop();
      // Stale entries: the left symbol was merged away or changed, or its right neighbour did.
      if (sym[pos] < 0) continue;
      const right = next[pos];
      if (right < 0 || this.ranks.get(sym[pos], sym[right]) !== rank) continue;
      sym[pos] = this.mergedIds[rank];
      sym[right] = -1;
      next[pos] = next[right];
      if (next[right] >= 0) prev[next[right]] = pos;
      if (prev[pos] >= 0) push(prev[pos]);
      push(pos);
    }
    const result: number[] = [];
    for (let i = 0; i >= 0; i = next[i]) result.push(sym[i]);
    return result;
  }
}

/** Min-heap of (rank, position), ordered by rank then position (leftmost first on ties). */
class MergeHeap {
  private ranks: number[] = [];
  private positions: number[] = [];

  get size(): number {
    return this.ranks.length;
  }

  private less(i: number, j: number): boolean {
    const a = this.ranks[i], b = this.ranks[j];
    return a < b || (a === b && this.positions[i] < this.positions[j]);
  }

  private swap(i: number, j: number): void {
    const r = this.ranks[i], p = this.positions[i];
    this.ranks[i] = this.ranks[j];
    this.positions[i] = this.positions[j];
    this.ranks[j] = r;
    this.positions[j] = p;
  }

  push(rank: number, pos: number): void {
    this.ranks.push(rank);
    this.positions.push(pos);
    let i = this.ranks.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  pop(): { rank: number; pos: number } {
    const top = { rank: this.ranks[0], pos: this.positions[0] };
    const lastRank = this.ranks.pop()!, lastPos = this.positions.pop()!;
    if (this.ranks.length > 0) {
      this.ranks[0] = lastRank;
      this.positions[0] = lastPos;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < this.ranks.length && this.less(l, m)) m = l;
        if (r < this.ranks.length && this.less(r, m)) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    return top;
  }
}

/** Open-addressing hash table (id, id) → non-negative int, linear probing, never shrinks. */
class PairTable {
  private readonly left: Int32Array;
  private readonly right: Int32Array;
  private readonly value: Int32Array;
  private readonly mask: number;

  constructor(expected: number) {
    let cap = 16;
    while (cap < expected * 2) cap *= 2;
    this.left = new Int32Array(cap).fill(-1);
    this.right = new Int32Array(cap);
    this.value = new Int32Array(cap);
    this.mask = cap - 1;
  }

  private slot(a: number, b: number): number {
    let h = (Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca6b)) >>> 0;
    h = (h ^ (h >>> 15)) & this.mask;
    while (this.left[h] !== -1 && (this.left[h] !== a || this.right[h] !== b)) {
      h = (h + 1) & this.mask;
    }
    return h;
  }

  set(a: number, b: number, v: number): void {
    const h = this.slot(a, b);
    this.left[h] = a;
    this.right[h] = b;
    this.value[h] = v;
  }

  /** The value, or -1. */
  get(a: number, b: number): number {
    const h = this.slot(a, b);
    return this.left[h] === -1 ? -1 : this.value[h];
  }
}
