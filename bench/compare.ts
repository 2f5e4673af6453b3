/**
 * `deno task bench:compare a.json b.json`: two benchmark reports (from
 * `deno task bench --json` or the browser's `bench.html` export) side by
 * side, per kernel case: time, % of each run's own ceilings, and the
 * second's speed-up over the first. Exit 2 when a file is missing or is not
 * a report.
 */
import { basename } from "node:path";
import { compareBenchReports, parseBenchReport } from "../src/bench/report.ts";

export async function runCompare(args: string[]): Promise<number> {
  if (args.length !== 2 || args.some((a) => a.startsWith("-"))) {
    console.error("usage: deno task bench:compare a.json b.json");
    return 2;
  }
  const reports = [];
  for (const path of args) {
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (e) {
      console.error(`bench:compare: ${path}: ${e instanceof Error ? e.message : e}`);
      return 2;
    }
    try {
      reports.push(parseBenchReport(JSON.parse(text), path));
    } catch (e) {
      const why = e instanceof SyntaxError
        ? `${path}: not JSON (${e.message})`
        : (e as Error).message;
      console.error(`bench:compare: ${why}`);
      return 2;
    }
  }
  const names: [string, string] = [basename(args[0]), basename(args[1])];
  if (names[0] === names[1]) names.splice(0, 2, "a", "b");
  for (const line of compareBenchReports(reports[0], reports[1], names)) console.log(line);
  return 0;
}

if (import.meta.main) Deno.exit(await runCompare(Deno.args));
