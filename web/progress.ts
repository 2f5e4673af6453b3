/**
 * The progress line the page shows while its worker runs a request: the
 * stage, then per sampling step `step i/N · s/step · ETA`. Pure (no DOM), so
 * tests/web/page_logic_test.ts checks it without a browser.
 */

/** Steps averaged for s/step: recent ones, since the first pays for shader compilation. */
const RECENT_STEPS = 4;

/** What the page knows about the running request. */
export class RunProgress {
  private stage = "waiting";
  private stepMs: number[] = [];
  step = 0;
  steps = 0;

  /** A stage began (a status line from the pipeline). */
  setStage(stage: string): void {
    this.stage = stage;
  }

  /** Sampling step `step` of `steps` finished in `ms`. */
  addStep(step: number, steps: number, ms: number): void {
    this.step = step;
    this.steps = steps;
    this.stepMs.push(ms);
    this.stage = "sampling";
  }

  /** Seconds per step over the recent steps (undefined before the first). */
  secondsPerStep(): number | undefined {
    if (this.stepMs.length === 0) return undefined;
    const recent = this.stepMs.slice(-RECENT_STEPS);
    return recent.reduce((a, b) => a + b, 0) / recent.length / 1000;
  }

  /** Seconds left for the sampling steps (decoding not included). */
  etaSeconds(): number | undefined {
    const s = this.secondsPerStep();
    return s === undefined ? undefined : s * (this.steps - this.step);
  }

  /** E.g. `sampling · step 3/12 · 0.42 s/step · ETA 3.8 s`, or the stage alone. */
  line(): string {
    const s = this.secondsPerStep();
    if (this.stage !== "sampling" || s === undefined) return this.stage;
    return `sampling · step ${this.step}/${this.steps} · ${s.toFixed(2)} s/step · ` +
      `ETA ${this.etaSeconds()!.toFixed(1)} s`;
  }
}
