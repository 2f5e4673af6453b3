/**
 * Tensor scopes: model code states the computation, and the intermediates
 * it makes are released for it (`ctx.scope`, `ctx.pipe`, `ctx.keep` on
 * {@link GpuContext}).
 *
 * Rules, in one place:
 * - A scope records every pool tensor (and view) created on its context
 *   while it runs, and at its end releases each one it does not return.
 *   What it returns (a Tensor, or arrays and plain objects holding them, at
 *   any depth) moves to the enclosing scope, or to the caller when there is
 *   none. Tensors inside class instances are found only when the class
 *   lists them ({@link SCOPE_TENSORS}, e.g. the VAE's banded maps).
 * - Weights are never recorded: tensors allocated `exact` (outside the pool's
 *   size classes: Linear, conv and norm weights, the DiT's streaming slots)
 *   belong to their model whether they are uploaded before a forward or
 *   inside one. A pool tensor made inside a scope that must outlive it (a
 *   cache, such as the DiT's rope tables) is taken out with `ctx.keep`, and
 *   its new owner releases it.
 * - A view never releases its base; using a view after its base was released
 *   is the same "used after release()" error as using the base. A scope that
 *   returns a view of a tensor it releases is an error.
 * - A scope can take over a tensor made before it (`ctx.adopt`): a loop's
 *   carried state, such as a residual stream, is then released by the step
 *   that reads it last. `release()` stays valid inside a scope too (the
 *   scope then skips the tensor).
 * - Scopes are synchronous: a function that returns a Promise is an error
 *   (its tensors would be released before the awaited work used them).
 *
 * Release order and the pool's peak: a scope releases at its end, so a
 * tensor lives until the scope that made it ends. {@link TensorScopes.pipe}
 * ends a scope per step, which frees each intermediate right after its last
 * reader is recorded, as hand-written releases did: the forwards written
 * with it reach exactly the live bytes (and peak) they reached before.
 */
import { Tensor } from "./tensor.ts";

/**
 * The name of the method a class holding tensors implements to list them, so
 * a scope that returns an instance of it moves them out with it. A plain
 * name, not a symbol: a class whose method key is computed cannot be dropped
 * by a bundler that does not use it (the web page's script would carry the
 * VAE's banded maps, and with them the GPU kernels).
 */
export const SCOPE_TENSORS = "scopeTensors" as const;

/** A value that lists the tensors it holds (see {@link SCOPE_TENSORS}). */
export interface HoldsTensors {
  /** The tensors this value holds. */
  [SCOPE_TENSORS](): Iterable<Tensor>;
}

/** The tensors a running scope will release. */
type ScopeSet = Set<Tensor>;

/** The scope stack of one {@link GpuContext} (its `scopes` field). */
export class TensorScopes {
  private readonly stack: ScopeSet[] = [];
  private readonly owner = new WeakMap<Tensor, ScopeSet>();

  /** Open scopes (0 outside every scope). */
  get depth(): number {
    return this.stack.length;
  }

  /** Records a new tensor in the innermost open scope, if any (called by `Tensor`). */
  track(t: Tensor): void {
    const top = this.stack.at(-1);
    if (!top) return;
    top.add(t);
    this.owner.set(t, top);
  }

  /** See {@link GpuContext.scope}. */
  scope<T>(fn: () => T): T {
    return this.run(fn, []).value;
  }

  /** See {@link GpuContext.pipe}. */
  pipe(steps: ((input: unknown) => unknown)[]): unknown {
    let value: unknown, carried: Tensor[] = [];
    for (const step of steps) {
      const input = value;
      ({ value, moved: carried } = this.run(() => step(input), carried));
    }
    return value;
  }

  /** See {@link GpuContext.adopt}. */
  adopt<T>(value: T): T {
    const top = this.stack.at(-1);
    if (!top) throw new Error("ctx.adopt: no scope is open");
    for (const t of tensorsIn(value)) {
      this.owner.get(t)?.delete(t);
      top.add(t);
      this.owner.set(t, top);
    }
    return value;
  }

  /** See {@link GpuContext.keep}. */
  keep<T>(value: T): T {
    for (const t of tensorsIn(value)) {
      this.owner.get(t)?.delete(t);
      this.owner.delete(t);
    }
    return value;
  }

  /**
   * Runs `fn` in a new scope that first takes over `adopt` (tensors the
   * previous step of a pipe returned); returns its value and the tensors that
   * moved out of the scope with it.
   */
  private run<T>(fn: () => T, adopt: Tensor[]): { value: T; moved: Tensor[] } {
    const scope: ScopeSet = new Set();
    for (const t of adopt) {
      this.owner.get(t)?.delete(t);
      scope.add(t);
      this.owner.set(t, scope);
    }
    this.stack.push(scope);
    let value: T;
    try {
      value = fn();
      if (value instanceof Promise) {
        throw new Error(
          "ctx.scope: the function returned a Promise; scopes are synchronous (await " +
            "outside the scope, or keep() what must outlive it)",
        );
      }
    } catch (e) {
      this.close(scope, new Set());
      throw e;
    }
    const returned = tensorsIn(value);
    const moved: Tensor[] = [];
    for (const t of returned) {
      if (t.released) {
        this.close(scope, new Set());
        throw new Error(`ctx.scope returned tensor '${t.label}', which was already released`);
      }
      const base = t.base;
      if (base && scope.has(base) && !returned.has(base)) {
        this.close(scope, new Set());
        throw new Error(
          `ctx.scope returned a view '${t.label}' of tensor '${base.label}', which the scope ` +
            `releases: return '${base.label}' as well, or a copy`,
        );
      }
      if (scope.has(t)) moved.push(t);
    }
    this.close(scope, returned);
    const parent = this.stack.at(-1);
    for (const t of moved) {
      if (parent) {
        parent.add(t);
        this.owner.set(t, parent);
      } else {
        this.owner.delete(t);
      }
    }
    return { value, moved };
  }

  /** Pops `scope` and releases what it holds except `keep`. */
  private close(scope: ScopeSet, keep: ReadonlySet<Tensor>): void {
    if (this.stack.at(-1) !== scope) throw new Error("ctx.scope: scopes ended out of order");
    this.stack.pop();
    for (const t of scope) {
      this.owner.delete(t);
      if (!keep.has(t)) t.release();
    }
  }
}

/**
 * Every Tensor in `value`: itself, or inside arrays, plain objects and
 * {@link HoldsTensors} values, at any depth.
 */
function tensorsIn(value: unknown, out = new Set<Tensor>()): Set<Tensor> {
  if (value instanceof Tensor) {
    out.add(value);
  } else if (Array.isArray(value)) {
    for (const v of value) tensorsIn(v, out);
  } else if (
    value !== null && typeof value === "object" &&
    typeof (value as Partial<HoldsTensors>)[SCOPE_TENSORS] === "function"
  ) {
    for (const t of (value as HoldsTensors)[SCOPE_TENSORS]()) out.add(t);
  } else if (value !== null && typeof value === "object") {
    const proto = Object.getPrototypeOf(value);
    if (proto === Object.prototype || proto === null) {
      for (const v of Object.values(value)) tensorsIn(v, out);
    }
  }
  return out;
}
