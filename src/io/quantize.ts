/**
 * f32 weights → the tensors a checkpoint stores for each weight format (spec
 * §2), laid out as the published checkpoints lay them out, so test models and
 * the embedded default model go through exactly the loader real weights do.
 * The writers' entry point: each quantizer lives with its format's record in
 * `src/formats/` (dense F32/F16/BF16; nf4 with optional double quantization;
 * fp8 e4m3fn and int8 with one f32 scale per output row) and is re-exported
 * here; `quantizeLinear` writes any format by name.
 */
export { quantizeLinear } from "../formats/mod.ts";
export { denseTensor } from "../formats/dense.ts";
export {
  dynamicQuantMap,
  NF4_CODE,
  type Nf4Options,
  quantizeNf4,
  u8Tensor,
} from "../formats/nf4.ts";
export { FP8_E4M3_MAX, quantizeFp8, toFp8e4m3 } from "../formats/fp8.ts";
