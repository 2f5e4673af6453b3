/**
 * The `--peers` mode of `bench/main.ts`: flag checks, then the table (or JSON)
 * of `run.ts`. Imported only when `--peers` is given, so the plain benchmark
 * never loads the peer libraries.
 */
import type { GpuContext } from "../../src/gpu/context.ts";
import type { Ceilings } from "../../src/bench/ceilings.ts";
import { PEER_HEADER, runPeers } from "./run.ts";

export interface PeerFlags {
  json: boolean;
  shapes?: string;
  tokens?: string;
  rounds?: string;
  filter?: string;
  /** A software adapter: fewer tokens and rounds by default. */
  software: boolean;
}

function positiveInt(flag: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`bench: --${flag} must be a positive integer, got '${v}'`);
    Deno.exit(2);
  }
  return n;
}

export async function runPeerBench(
  ctx: GpuContext,
  ceilings: Ceilings,
  flags: PeerFlags,
): Promise<number> {
  const shapes = flags.shapes ?? "quick";
  if (shapes !== "quick" && shapes !== "model" && shapes !== "all") {
    console.error(`bench: --shapes must be quick, model or all, got '${shapes}'`);
    return 2;
  }
  const opts = {
    shapes: shapes as "quick" | "model" | "all",
    // 4096 image + 512 text tokens at 1024²; a software adapter takes 1/72 of that.
    tokens: positiveInt("tokens", flags.tokens, flags.software ? 64 : 4608),
    rounds: positiveInt("rounds", flags.rounds, flags.software ? 3 : 7),
    sampleSeconds: flags.software ? 0.5 : 0.2,
    filter: flags.filter,
  };
  if (!flags.json) {
    console.log(`adapter: ${ctx.describe()}`);
    console.log(
      `FMA f32 ceiling ${ceilings.f32GFlops.toPrecision(3)} GFLOP/s; medians of ${opts.rounds} ` +
        `interleaved rounds, wall clock, weights resident; project/peer > 1: project faster`,
    );
    console.log(PEER_HEADER);
  }
  const res = await runPeers(ctx, ceilings, {
    ...opts,
    log: flags.json ? undefined : (l) => console.log(l),
  });
  if (flags.json) {
    console.log(JSON.stringify(
      { adapter: ctx.describe(), date: new Date().toISOString(), ...opts, ceilings, ...res },
      null,
      2,
    ));
  } else {
    console.log(
      `peers: onnxruntime-web ${res.versions["onnxruntime-web"]}, tfjs ` +
        res.versions["@tensorflow/tfjs-core"],
    );
  }
  return 0;
}
