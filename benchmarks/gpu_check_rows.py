"""The GPU check's table: one `Row` per measured case, made from each part's JSON figures
(`benchmarks/gpu_check.py` runs the parts; this turns their figures into lines)."""

from __future__ import annotations

import dataclasses
import re


@dataclasses.dataclass
class Row:
    """One line of the table."""

    part: str
    case: str
    arvid: str = ""
    peer: str = ""
    ratio: str = ""
    notes: str = ""


def attention_rows(figures: dict) -> list[Row]:
    rows = []
    dtype = figures["dtype"]
    peak = figures.get("peak_bandwidth_gbs")
    for entry in figures["prefill"]:
        tflops = entry["tflops"]
        peers = {name: value for name, value in tflops.items() if name != "arvid" and value}
        best = max(peers, key=peers.get) if peers else None
        sdpa = tflops.get("sdpa")
        rows.append(Row("prefill attention",
                        f"causal {dtype}, b{entry['batch']} h{entry['heads']} d{entry['head_dim']} n{entry['length']}",
                        fmt(tflops.get("arvid"), "{:.1f} TFLOP/s"),
                        f"{fmt(peers[best], '{:.1f}')} ({best})" if best else "none ran",
                        ratio(tflops.get("arvid"), peers.get(best)),
                        (f"SDPA's own choice {fmt(sdpa, '{:.1f}')}; " if sdpa and best != "sdpa" else "")
                        + (f"max abs diff from SDPA {entry['max_abs_diff']:.1e}" if entry.get("max_abs_diff") is not None
                           else f"arvid failed: {entry.get('error')}")))
    for entry in figures["decode"]:
        gbs = entry["gbs"]
        peers = {name: value for name, value in gbs.items() if name != "arvid" and value}
        best = max(peers, key=peers.get) if peers else None
        share = entry.get("fraction_of_peak")
        rows.append(Row("decode attention",
                        f"{dtype}, b{entry['batch']} h{entry['heads']} g{entry['kv_heads']} d{entry['head_dim']}, "
                        f"cache {entry['cache']}",
                        fmt(gbs.get("arvid"), "{:.0f} GB/s"),
                        f"{fmt(peers[best], '{:.0f}')} ({best})" if best else "none ran",
                        ratio(gbs.get("arvid"), peers.get(best)),
                        f"{100 * share:.0f}% of the datasheet's {peak:.0f} GB/s" if share
                        else "the GPU's peak bandwidth is unknown" if not peak else "",))
    return rows


def decode_rows(figures: dict, *, compiled: bool = False, transformers: dict[int, float] | None = None) -> list[Row]:
    rows = []
    for entry in figures["batches"]:
        rates = entry["tokens_per_s"]
        name = "arvid compiled" if compiled else "arvid eager"
        peer = rates.get("transformers") or (transformers or {}).get(entry["batch"])
        notes = []
        if entry.get("max_logit_diff") is not None:
            notes.append(f"max logit diff on the prompt {entry['max_logit_diff']:.1e}")
        if entry.get("outside_matrix_share") is not None:
            notes.append(f"eager time outside matrix work {100 * entry['outside_matrix_share']:.0f}%")
        notes += [f"{path}: {error}" for path, error in entry.get("errors", {}).items()]
        rows.append(Row("LM decode" + (" (compiled)" if compiled else ""),
                        f"{figures['config']} preset ({figures['parameters'] / 1e6:.0f}M), {figures['dtype']}, batch "
                        f"{entry['batch']}, {figures['tokens']} new tokens after {figures['prompt_tokens']}",
                        fmt(rates.get(name), "{:.0f} tokens/s") + (f" ({name})" if rates.get(name) else ""),
                        fmt(peer, "{:.0f} tokens/s") + (" (transformers)" if peer else ""),
                        ratio(rates.get(name), peer), "; ".join(notes)))
    return rows


def stream_rows(figures: dict) -> list[Row]:
    rows = []
    for mark in figures["marks"]:
        notes = f"real-time factor {mark['real_time_factor']:.2f} at {figures['fps']:g} fps; RSS {mark['rss_mib']:.0f} MiB"
        if mark.get("gpu_peak_mib") is not None:
            notes += f"; GPU peak {mark['gpu_peak_mib']:.0f} MiB"
        rows.append(Row("stream", f"{figures['model']}, cfg {figures['cfg']:g}, frame {mark['frames']}",
                        f"{mark['ms_per_latent_frame']:.1f} ms per latent frame", notes=notes))
    paired = figures.get("paired")
    if paired:
        rows.append(Row("stream", f"paired: frame {paired['old_frames']} against frame 100",
                        f"{paired['old_ms']:.1f} ms", f"{paired['young_ms']:.1f} ms (frame 100)", f"{paired['ratio']:.3f}",
                        f"{paired['rounds']} latent frames each, taken in turn"))
    return rows


def train_rows(figures: dict) -> list[Row]:
    rows = []
    batch, length = figures["batch"]
    for name, entry in figures["paths"].items():
        notes = f"{entry['tokens_per_s']:.0f} tokens/s; mean loss {entry['mean_loss']:.3f}"
        if figures.get("peak_gpu_gib") is not None:
            notes += f"; peak GPU memory {figures['peak_gpu_gib']:.1f} GiB"
        rows.append(Row("LM training", f"{figures['config']} preset ({figures['parameters'] / 1e6:.0f}M), batch {batch} x "
                        f"{length} tokens, {name}, {figures['steps']} steps after {figures['warmup_steps']} warm-up",
                        f"{entry['ms_per_step']:.1f} ms/step", notes=notes))
    return rows


def fmt(value: float | None, spec: str) -> str:
    """`spec` filled with `value`, three significant digits for values under 10 (the dry run's), "-" for None."""
    if value is None:
        return "-"
    if abs(value) < 10:
        spec = re.sub(r"\{:\.\d+f\}", "{:.3g}", spec)
    return spec.format(value)


def ratio(mine: float | None, theirs: float | None) -> str:
    return f"{mine / theirs:.2f}" if mine and theirs else ""
