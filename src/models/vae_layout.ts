/**
 * The weight tree of the Flux2 VAE decoder (diffusers key names), declared
 * once for a config: the loader (`vae_weights.ts`), the GPU upload and
 * release (`vae_decoder.ts`), the tiny writer (`tiny/vae.ts`) and the random
 * and sparse checkpoint writers (`checkpoint/layout.ts`) all derive from
 * {@link vaeDecoderLayout}. Like `dit_layout.ts` for the DiT.
 */
import { type VaeDecoderConfig, vaeMidChannels, vaeUpBlocks } from "./vae_config.ts";

/** A conv: `${name}.weight` `[cout, cin, k, k]` and `${name}.bias` `[cout]`. */
export interface VaeConvSpec {
  kind: "conv";
  name: string;
  cout: number;
  cin: number;
  k: 1 | 3;
}

/** An attention projection: `${name}.weight` `[c, c]` (or a 1×1 conv) and `${name}.bias` `[c]`. */
export interface VaeProjectionSpec {
  kind: "projection";
  name: string;
  c: number;
}

/** A GroupNorm's affine parameters: `${name}.weight` and `${name}.bias`, `[c]` each. */
export interface VaeNormSpec {
  kind: "norm";
  name: string;
  c: number;
}

/** Any tensor group of the decoder. */
export type VaeLayoutEntry = VaeConvSpec | VaeProjectionSpec | VaeNormSpec;

/** `x + conv2(silu(norm2(conv1(silu(norm1(x))))))`, `x` through `shortcut` when widths differ. */
export interface VaeResnetOf<C, N> {
  norm1: N;
  conv1: C;
  norm2: N;
  conv2: C;
  shortcut?: C;
}

/** Single-head attention over all pixels. */
export interface VaeAttentionOf<P, N> {
  norm: N;
  q: P;
  k: P;
  v: P;
  out: P;
}

/** An up block: resnets, then (all but the last) nearest ×2 and a 3×3 conv. */
export interface VaeUpBlockOf<C, N> {
  resnets: VaeResnetOf<C, N>[];
  upsample?: C;
}

/** The whole decoder in execution (and checkpoint) order: convs `C`, norms `N`, projections `P`. */
export interface VaeDecoderOf<C, N, P = C> {
  postQuantConv?: C;
  convIn: C;
  mid: { resnets: [VaeResnetOf<C, N>, VaeResnetOf<C, N>]; attention?: VaeAttentionOf<P, N> };
  upBlocks: VaeUpBlockOf<C, N>[];
  normOut: N;
  convOut: C;
}

/** The declaration: every tensor group of the decoder for `c`. */
export type VaeDecoderLayout = VaeDecoderOf<VaeConvSpec, VaeNormSpec, VaeProjectionSpec>;

/** The decoder's weight tree for config `c` (names, shapes). */
export function vaeDecoderLayout(c: VaeDecoderConfig): VaeDecoderLayout {
  const conv = (name: string, cout: number, cin: number, k: 1 | 3): VaeConvSpec => ({
    kind: "conv",
    name,
    cout,
    cin,
    k,
  });
  const norm = (name: string, ch: number): VaeNormSpec => ({ kind: "norm", name, c: ch });
  const proj = (name: string, ch: number): VaeProjectionSpec => ({
    kind: "projection",
    name,
    c: ch,
  });
  const resnet = (
    name: string,
    cin: number,
    cout: number,
  ): VaeResnetOf<VaeConvSpec, VaeNormSpec> => ({
    norm1: norm(`${name}.norm1`, cin),
    conv1: conv(`${name}.conv1`, cout, cin, 3),
    norm2: norm(`${name}.norm2`, cout),
    conv2: conv(`${name}.conv2`, cout, cout, 3),
    shortcut: cin === cout ? undefined : conv(`${name}.conv_shortcut`, cout, cin, 1),
  });
  const z = c.latentChannels, mid = vaeMidChannels(c), d = "decoder.";
  const m = `${d}mid_block.`, a = `${m}attentions.0`;
  const top = c.blockOutChannels[0];
  return {
    postQuantConv: c.usePostQuantConv ? conv("post_quant_conv", z, z, 1) : undefined,
    convIn: conv(`${d}conv_in`, mid, z, 3),
    mid: {
      resnets: [resnet(`${m}resnets.0`, mid, mid), resnet(`${m}resnets.1`, mid, mid)],
      attention: c.midBlockAttention
        ? {
          norm: norm(`${a}.group_norm`, mid),
          q: proj(`${a}.to_q`, mid),
          k: proj(`${a}.to_k`, mid),
          v: proj(`${a}.to_v`, mid),
          out: proj(`${a}.to_out.0`, mid),
        }
        : undefined,
    },
    upBlocks: vaeUpBlocks(c).map((b) => {
      const name = `${d}up_blocks.${b.index}`;
      const ch = b.resnets[b.resnets.length - 1].cout;
      return {
        resnets: b.resnets.map((r, j) => resnet(`${name}.resnets.${j}`, r.cin, r.cout)),
        upsample: b.upsample ? conv(`${name}.upsamplers.0.conv`, ch, ch, 3) : undefined,
      };
    }),
    normOut: norm(`${d}conv_norm_out`, top),
    convOut: conv(`${d}conv_out`, c.outChannels, top, 3),
  };
}

/** The same tree with every conv mapped by `conv`, norm by `norm` and projection by `proj`, in checkpoint order. */
export function mapVaeDecoder<C, N, P, C2, N2, P2>(
  l: VaeDecoderOf<C, N, P>,
  conv: (c: C) => C2,
  norm: (n: N) => N2,
  proj: (p: P) => P2,
): VaeDecoderOf<C2, N2, P2> {
  const resnet = (r: VaeResnetOf<C, N>): VaeResnetOf<C2, N2> => ({
    norm1: norm(r.norm1),
    conv1: conv(r.conv1),
    norm2: norm(r.norm2),
    conv2: conv(r.conv2),
    shortcut: r.shortcut === undefined ? undefined : conv(r.shortcut),
  });
  const at = l.mid.attention;
  const postQuantConv = l.postQuantConv === undefined ? undefined : conv(l.postQuantConv);
  const convIn = conv(l.convIn);
  const resnets: [VaeResnetOf<C2, N2>, VaeResnetOf<C2, N2>] = [
    resnet(l.mid.resnets[0]),
    resnet(l.mid.resnets[1]),
  ];
  const attention = at && {
    norm: norm(at.norm),
    q: proj(at.q),
    k: proj(at.k),
    v: proj(at.v),
    out: proj(at.out),
  };
  const upBlocks = l.upBlocks.map((b) => ({
    resnets: b.resnets.map(resnet),
    upsample: b.upsample === undefined ? undefined : conv(b.upsample),
  }));
  return {
    postQuantConv,
    convIn,
    mid: { resnets, attention },
    upBlocks,
    normOut: norm(l.normOut),
    convOut: conv(l.convOut),
  };
}

/** Every tensor group of the decoder, in checkpoint order. */
export function vaeLayoutEntries(l: VaeDecoderLayout): VaeLayoutEntry[] {
  const out: VaeLayoutEntry[] = [];
  const add = <T extends VaeLayoutEntry>(e: T) => (out.push(e), e);
  mapVaeDecoder(l, add, add, add);
  return out;
}

/** Every conv (projections included) and every norm of a decoder tree (release, byte counts). */
export function vaeDecoderMembers<C, N>(l: VaeDecoderOf<C, N, C>): { convs: C[]; norms: N[] } {
  const convs: C[] = [], norms: N[] = [];
  mapVaeDecoder(l, (c) => convs.push(c), (n) => norms.push(n), (p) => convs.push(p));
  return { convs, norms };
}
