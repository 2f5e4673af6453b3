#!/usr/bin/env python3
"""Checks this runtime's outputs against PyTorch on the same weights and inputs.

Part of bench/gpu/run.sh (issue 16). Reads a checkpoint written by
`cli.ts make-checkpoint` and the outputs `cli.ts dump` wrote for it, rebuilds
each component in PyTorch from the same files, and writes one JSON report:

- text encoder: transformers' Qwen3-VL text model (built from the checkpoint's
  text_config, weights dequantized from our nf4/fp8 files), the hidden state
  after each of the 13 tapped layers (forward hooks: raw layer outputs, no
  final norm) against ours, per tap: max and mean over tokens of the row
  relative error;
- DiT: upstream's Ideogram4Transformer, imported from the folder given with
  --upstream (a checkout of RyukoMatoiFan/ideogram4 at 415abf4; never copied
  into this project), on our features, noise and t, cond and uncond;
- VAE: upstream's autoencoder Decoder on our latent.

Torch runs each in float32 (the reference) and in bfloat16 (to show what the
reference's own rounding costs); our error must be of the same order or
smaller. It also times the bf16 forwards with CUDA events (medians), for the
speed ratio. Without torch it exits 3 after one line saying so.

usage: compare_torch.py --upstream DIR --checkpoint DIR --dump DIR --out FILE.json
"""
import argparse
import json
import math
import os
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", required=True, help="checkout of RyukoMatoiFan/ideogram4 at 415abf4")
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--dump", required=True, help="folder written by `cli.ts dump`")
    ap.add_argument("--out", required=True)
    ap.add_argument("--stages", default="encoder,dit,vae")
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    try:
        import numpy  # noqa: F401
        import torch  # noqa: F401
    except ImportError as e:
        print(f"compare_torch: skipped: PyTorch/NumPy not importable here ({e})")
        return 3
    import torch
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    sys.path.insert(0, os.path.join(a.upstream, "src"))
    meta = json.load(open(os.path.join(a.dump, "meta.json")))
    report = {"device": torch.cuda.get_device_name() if dev == "cuda" else "cpu",
              "torch": torch.__version__, "meta": {k: meta.get(k) for k in ("width", "height", "t", "seed")}}
    stages = set(a.stages.split(","))
    t0 = time.time()
    for name, fn in (("encoder", compare_encoder), ("dit", compare_dit), ("vae", compare_vae)):
        if name not in stages:
            continue
        try:
            report[name] = fn(a, meta, dev)
        except Exception as e:  # one stage failing must not hide the others
            import traceback
            traceback.print_exc()
            report[name] = {"error": f"{type(e).__name__}: {e}"}
        report[f"{name}_seconds"] = time.time() - t0
        json.dump(report, open(a.out, "w"), indent=2)
        torch.cuda.empty_cache() if dev == "cuda" else None
    print(json.dumps(report, indent=2))
    return 0


# ---------------------------------------------------------------- weights

NF4_CODE = None


def open_component(folder):
    """name -> (file, key) over one component's safetensors files."""
    from safetensors import safe_open
    index = [f for f in os.listdir(folder) if f.endswith(".safetensors.index.json")]
    files = (sorted(set(json.load(open(os.path.join(folder, index[0])))["weight_map"].values()))
             if index else [f for f in os.listdir(folder) if f.endswith(".safetensors")])
    handles = {}
    where = {}
    for f in files:
        h = safe_open(os.path.join(folder, f), framework="pt", device="cpu")
        handles[f] = h
        for k in h.keys():
            where[k] = h
    return where


def dequant_linear(where, name, dev, dtype):
    """Linear weight `name` (…weight) as a dense [out, in] tensor, from dense, nf4 or fp8."""
    import torch
    w = where[name].get_tensor(name)
    state_key = name + ".quant_state.bitsandbytes__nf4"
    if state_key in where:
        state = json.loads(bytes(where[state_key].get_tensor(state_key).tolist()).decode())
        out, inf = state["shape"]
        packed = w.to(dev).reshape(-1)
        codes = torch.stack([packed >> 4, packed & 15], dim=1).reshape(-1)[: out * inf].long()
        qmap = where[name + ".quant_map"].get_tensor(name + ".quant_map").to(dev).float()
        absmax = where[name + ".absmax"].get_tensor(name + ".absmax").to(dev)
        if "nested_blocksize" in state:
            nmap = where[name + ".nested_quant_map"].get_tensor(name + ".nested_quant_map").to(dev).float()
            nabs = where[name + ".nested_absmax"].get_tensor(name + ".nested_absmax").to(dev).float()
            nb = state["nested_blocksize"]
            idx = torch.arange(absmax.numel(), device=dev) // nb
            absmax = nmap[absmax.long()] * nabs[idx] + state["nested_offset"]
        absmax = absmax.float()
        bs = state["blocksize"]
        vals = qmap[codes] * absmax[torch.arange(codes.numel(), device=dev) // bs]
        return vals.reshape(out, inf).to(dtype)
    scale_key = name + "_scale"
    if w.dtype == torch.float8_e4m3fn and scale_key in where:
        scale = where[scale_key].get_tensor(scale_key).to(dev).float()
        return (w.to(dev).float() * scale[:, None]).to(dtype)
    return w.to(dev).to(dtype)


def load_state(where, names, dev, dtype, rename=lambda k: k):
    sd = {}
    for k in names:
        src = rename(k)
        if src is None or src not in where:
            continue
        sd[k] = dequant_linear(where, src, dev, dtype) if src.endswith(".weight") else \
            where[src].get_tensor(src).to(dev).to(dtype)
    return sd


# ---------------------------------------------------------------- metrics

def rel(ours, ref):
    """Frobenius relative error, and max / mean over rows of the row relative error."""
    import torch
    ours = ours.double().reshape(ref.shape[0], -1)
    ref = ref.double().reshape(ref.shape[0], -1)
    d = (ours - ref).norm(dim=1) / ref.norm(dim=1).clamp_min(1e-30)
    return {"rel_l2": float((ours - ref).norm() / ref.norm().clamp_min(1e-30)),
            "row_max": float(d.max()), "row_mean": float(d.mean()),
            "finite": bool(torch.isfinite(ours).all())}


def npy(dump, name, dev):
    import numpy as np
    import torch
    return torch.from_numpy(np.load(os.path.join(dump, name))).to(dev)


def cuda_ms(fn, reps):
    import torch
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        fn()
        e.record()
        torch.cuda.synchronize()
        times.append(s.elapsed_time(e))
    return sorted(times)[len(times) // 2]


# ---------------------------------------------------------------- stages

TAPS = (0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 33, 35)


def compare_encoder(a, meta, dev):
    import torch
    from transformers.models.qwen3_vl.configuration_qwen3_vl import Qwen3VLTextConfig
    from transformers.models.qwen3_vl.modeling_qwen3_vl import Qwen3VLTextModel
    folder = os.path.join(a.checkpoint, "text_encoder")
    tc = json.load(open(os.path.join(folder, "config.json")))["text_config"]
    cfg = Qwen3VLTextConfig(**{k: v for k, v in tc.items() if k != "model_type"})
    cfg._attn_implementation = "sdpa"
    where = open_component(folder)
    ids = torch.tensor([meta["ids"]], device=dev)
    L = ids.shape[1]
    ours = npy(a.dump, "features.npy", dev).reshape(L, tc["hidden_size"], len(TAPS))
    out = {"tokens": L, "taps": {}}
    refs = {}
    for dtype, label in ((torch.float32, "f32"), (torch.bfloat16, "bf16")):
        with torch.device(dev):
            model = Qwen3VLTextModel(cfg).to(dtype).eval()
        names = list(model.state_dict().keys())
        sd = load_state(where, names, dev, dtype, lambda k: "model.language_model." + k)
        missing = [k for k in names if k not in sd]
        model.load_state_dict(sd, strict=False)
        del sd
        caught = {}
        hooks = [model.layers[i].register_forward_hook(
            lambda m, inp, o, i=i: caught.__setitem__(i, (o[0] if isinstance(o, tuple) else o)[0].float()))
            for i in TAPS]
        pos = torch.arange(L, device=dev)[None, None, :].expand(3, 1, L)
        with torch.no_grad():
            fwd = lambda: model(input_ids=ids, position_ids=pos, use_cache=False)
            fwd()
            refs[label] = {i: caught[i].clone() for i in TAPS}
            if label == "bf16" and dev == "cuda":
                out["torch_bf16_encode_ms"] = cuda_ms(fwd, a.reps)
        for h in hooks:
            h.remove()
        out[f"missing_{label}"] = missing
        del model
        torch.cuda.empty_cache() if dev == "cuda" else None
    for j, i in enumerate(TAPS):
        ref = refs["f32"][i]
        out["taps"][i] = {"ours_vs_f32": rel(ours[:, :, j], ref), "bf16_vs_f32": rel(refs["bf16"][i], ref)}
    return out


def dit_inputs(meta, ltxt, limg, dev):
    import torch
    from ideogram4.constants import IMAGE_POSITION_OFFSET, LLM_TOKEN_INDICATOR, OUTPUT_IMAGE_INDICATOR
    gh, gw = meta["gh"], meta["gw"]
    txt = torch.arange(ltxt, device=dev)[:, None].expand(ltxt, 3)
    gy, gx = torch.meshgrid(torch.arange(gh, device=dev), torch.arange(gw, device=dev), indexing="ij")
    img = torch.stack([torch.zeros_like(gy), gy, gx], dim=-1).reshape(-1, 3) + IMAGE_POSITION_OFFSET
    pos = torch.cat([txt, img])[None]
    ind = torch.cat([torch.full((ltxt,), LLM_TOKEN_INDICATOR, device=dev),
                     torch.full((limg,), OUTPUT_IMAGE_INDICATOR, device=dev)])[None]
    return pos, ind


def compare_dit(a, meta, dev):
    import torch
    from ideogram4.modeling_ideogram4 import Ideogram4Config, Ideogram4Transformer
    noise = npy(a.dump, "noise.npy", dev).float()
    feats = npy(a.dump, "features.npy", dev).float()
    limg, ltxt = noise.shape[0], feats.shape[0]
    out = {"text_tokens": ltxt, "image_tokens": limg}
    for folder, key in (("transformer", "cond"), ("unconditional_transformer", "uncond")):
        cj = json.load(open(os.path.join(a.checkpoint, folder, "config.json")))
        fields = Ideogram4Config.__dataclass_fields__
        cfg = Ideogram4Config(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in cj.items() if k in fields})
        where = open_component(os.path.join(a.checkpoint, folder))
        ours = npy(a.dump, f"velocity_{key}.npy", dev).float()
        n_txt = ltxt if key == "cond" else 0
        pos, ind = dit_inputs(meta, n_txt, limg, dev)
        L = n_txt + limg
        x = torch.zeros(1, L, cfg.in_channels, device=dev)
        x[0, n_txt:] = noise
        f = torch.zeros(1, L, cfg.llm_features_dim, device=dev)
        if n_txt:
            f[0, :n_txt] = feats
        t = torch.tensor([meta["t"]], device=dev)
        seg = torch.zeros(1, L, dtype=torch.long, device=dev)
        res = {}
        for dtype, label in ((torch.float32, "f32"), (torch.bfloat16, "bf16")):
            with torch.device(dev):
                model = Ideogram4Transformer(cfg).to(dtype).eval()
            names = list(model.state_dict().keys())
            sd = load_state(where, names, dev, dtype)
            res[f"missing_{label}"] = [k for k in names if k not in sd]
            model.load_state_dict(sd, strict=False)
            del sd
            fwd = lambda: model(llm_features=f, x=x, t=t, position_ids=pos, segment_ids=seg, indicator=ind)
            with torch.no_grad():
                res[label] = fwd()[0, n_txt:].float()
                if label == "bf16" and dev == "cuda":
                    res["torch_bf16_ms"] = cuda_ms(fwd, a.reps)
            del model
            torch.cuda.empty_cache() if dev == "cuda" else None
        out[key] = {"ours_vs_f32": rel(ours, res["f32"]), "bf16_vs_f32": rel(res["bf16"], res["f32"]),
                    "torch_bf16_ms": res.get("torch_bf16_ms"),
                    "missing": res["missing_f32"]}
    if out["cond"].get("torch_bf16_ms") and out["uncond"].get("torch_bf16_ms"):
        out["torch_bf16_step_s"] = (out["cond"]["torch_bf16_ms"] + out["uncond"]["torch_bf16_ms"]) / 1000
    return out


def compare_vae(a, meta, dev):
    import torch
    from ideogram4.autoencoder import AutoEncoder, AutoEncoderParams, convert_diffusers_state_dict
    folder = os.path.join(a.checkpoint, "vae")
    where = open_component(folder)
    raw = {k: where[k].get_tensor(k) for k in where}
    sd = convert_diffusers_state_dict(raw)
    z = npy(a.dump, "vae_latent.npy", dev).float().permute(2, 0, 1)[None]
    ours = npy(a.dump, "pixels.npy", dev).float()  # [H, W, 3]
    vc = json.load(open(os.path.join(folder, "config.json")))
    bo = vc["block_out_channels"]
    params = AutoEncoderParams(ch=bo[0], ch_mult=[c // bo[0] for c in bo],
                               num_res_blocks=vc["layers_per_block"], z_channels=vc["latent_channels"])
    out = {}
    res = {}
    for dtype, label in ((torch.float32, "f32"), (torch.bfloat16, "bf16")):
        with torch.device(dev):
            ae = AutoEncoder(params).to(dtype).eval()
        dec_sd = {k[len("decoder."):]: v.to(dev).to(dtype) for k, v in sd.items() if k.startswith("decoder.")}
        missing, _ = ae.decoder.load_state_dict(dec_sd, strict=False)
        out[f"missing_{label}"] = list(missing)
        fwd = lambda: ae.decoder(z.to(dtype))
        with torch.no_grad():
            res[label] = fwd()[0].permute(1, 2, 0).float()
            if label == "bf16" and dev == "cuda":
                out["torch_bf16_decode_ms"] = cuda_ms(fwd, a.reps)
        del ae
        torch.cuda.empty_cache() if dev == "cuda" else None
    out["ours_vs_f32"] = rel(ours, res["f32"])
    out["bf16_vs_f32"] = rel(res["bf16"], res["f32"])
    return out


if __name__ == "__main__":
    sys.exit(main())
