/**
 * Prints the WebGPU adapter Deno gets, as JSON: its info, every feature it
 * offers (subgroups, shader-f16, timestamp-query, …; wgpu-native extras such
 * as cooperative matrices appear here when the driver exposes them) and every
 * limit, beside what this runtime's device asked for. Part of
 * `bench/gpu/run.sh`: `deno run -A bench/gpu/adapter.ts`.
 */
import { GpuContext } from "../../src/gpu/context.ts";

const adapter = await navigator.gpu?.requestAdapter();
if (!adapter) {
  console.error("no WebGPU adapter (is a Vulkan driver installed? see README, Real GPUs)");
  Deno.exit(1);
}
const limits: Record<string, number> = {};
for (const k in adapter.limits) {
  const v = (adapter.limits as unknown as Record<string, unknown>)[k];
  if (typeof v === "number") limits[k] = v;
}
const info = adapter.info;
const ctx = await GpuContext.create({ adapter });
console.log(JSON.stringify(
  {
    info: {
      vendor: info.vendor,
      architecture: info.architecture,
      device: info.device,
      description: info.description,
    },
    features: [...adapter.features].sort(),
    limits,
    runtime: { describe: ctx.describe(), features: ctx.features },
  },
  null,
  2,
));
ctx.destroy();
