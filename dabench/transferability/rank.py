"""``dabench rank``: score candidate pretrained models on a target's labeled samples, and check the scores.

A candidate is a finished dabench run (a store cell or a ``dabench train --out`` folder: its features
are those its classifier reads, its logits those of its classifier) or a backbone spec
(``efficientnet_lite0``, ``{name: resnet50, weights: DEFAULT}``: its pooled features, and the logits of
the classifier it ships, if any). The target samples are the task-adaptation label budget of
(dataset, target, target_labeled or target_label_fraction, seed): exactly the labels fine-tuning reads.
Given a store of fine-tuning runs that started from the candidates (``model.init_from``), each score
is compared with the measured target accuracy by Kendall's tau and weighted tau (scipy).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dabench.errors import DabenchError
from dabench.transferability import SCORES


def candidate_outputs(candidate: str, data, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray | None]:
    """(features (N, d), source logits (N, C_s) or None) of `candidate` on the labeled split of `data`.

    ``CANDIDATE@LAYER`` scores the output of one backbone layer instead (a dotted submodule path, e.g.
    ``efficientnet_lite0@0.net._blocks.10``), averaged over its spatial positions; it has no logits."""
    if "@" in candidate and not Path(candidate).expanduser().exists():
        whole, layer = candidate.rsplit("@", 1)
        return layer_features(whole, layer, data, batch_size), None
    features, logits, _ = _encode(candidate, data, batch_size)
    return features, logits


def layer_features(candidate: str, layer: str, data, batch_size: int) -> np.ndarray:
    """(N, channels) outputs of the backbone layer `layer` of `candidate`, mean over spatial positions."""
    from dabench.models.model import backbone_layer

    seen = []
    _, _, backbone = _encode(candidate, data, batch_size, before=lambda bb: backbone_layer(
        bb, layer, key=f"candidate {candidate}@{layer}").register_forward_hook(
        lambda module, inputs, output: seen.append(output.float().flatten(2).mean(2) if output.dim() > 2 else
                                                   output.float())))
    return torch.cat(seen).numpy()


def _encode(candidate: str, data, batch_size: int, before=None):
    """(features, logits or None, backbone) of a run folder or backbone spec; `before(backbone)` runs first."""
    from dabench.data.files import chunks
    from dabench.io import read_json
    from dabench.models.backbones import BACKBONES, backbone_spec
    from dabench.models.model import build_model
    from dabench.models.pretrained import load_pretrained, pretrained_run

    path = Path(candidate).expanduser()
    if path.exists():
        folder = path.parent if path.is_file() else path
        cfg = read_json(folder / "result.json")["config"] if (folder / "result.json").exists() else None
        if cfg is None:
            raise DabenchError(f"candidate {candidate}: not a finished dabench run (no result.json); finish it or "
                               f"give another")
        pretrained_run(folder, cfg["model"]["backbone"])  # finished, checkpoint present
        model = build_model(**{k: v for k, v in cfg["model"].items() if k not in ("init_from", "init_from_id")},
                            input_shape=data.input_shape, num_classes=data.num_classes)
        head = load_pretrained(model, folder, data.input_shape)
        encode = lambda x: model.features(x)  # noqa: E731
        head = head[1] if head is not None else None  # the classifier part, over the bottleneck features
    else:
        try:
            spec = backbone_spec(candidate if not candidate.startswith("{") else __import__("yaml").safe_load(candidate))
            model = BACKBONES.build(spec, input_shape=tuple(data.input_shape))
        except DabenchError as err:
            raise DabenchError(f"candidate {candidate}: neither a run folder nor a backbone that loads ({err})") from None
        head = getattr(model, "pretrained_head", None)
        encode = model
    backbone = model.backbone if hasattr(model, "backbone") else model
    if before is not None:
        before(backbone)
    model.eval()
    features, logits = [], []
    with torch.inference_mode():
        for x in chunks(data.source_train.x, batch_size):
            f = encode(x)
            features.append(f.float().flatten(1).numpy())
            if head is not None:
                logits.append(head.eval()(f).float().numpy())
    return np.concatenate(features), np.concatenate(logits) if head is not None else None, backbone


def describe(candidate: str) -> str:
    """What a candidate is: a run's method, pair and steps; a layer; or "backbone"."""
    from dabench.io import read_json

    whole, _, layer = candidate.rpartition("@") if "@" in candidate and not Path(candidate).exists() else (
        candidate, "", "")
    path = Path(whole).expanduser()
    folder = path.parent if path.is_file() else path
    what = "backbone"
    if (folder / "result.json").is_file():
        done = read_json(folder / "result.json")
        what = f"{done['method']} {done['source']}→{done['target']}, {done['steps']} steps"
    return f"{what}, layer {layer}" if layer else what


def score_candidates(candidates: list[str], data, scores: list[str]) -> dict[str, dict[str, float]]:
    """{candidate: {score: value}}; a score that needs logits of a candidate without a classifier is an error."""
    labels = data.source_train.y.cpu().numpy()
    table = {}
    for candidate in candidates:
        features, logits = candidate_outputs(candidate, data)
        row = {}
        for name in scores:
            score = SCORES.get(name)
            if getattr(score, "needs_logits", False) and logits is None:
                raise DabenchError(f"score '{name}' reads the pretrained task's predictions, and candidate {candidate} "
                                   f"has no classifier; drop {name} (--scores logme,hscore,transrate) or give a "
                                   f"candidate with one")
            row[name] = score(features, labels, logits)
        table[candidate] = row
    return table


def measured_accuracy(store: str | Path, candidates: list[str], target: str) -> dict[str, float]:
    """{candidate: mean target accuracy over the runs of `store` on `target` that started from it}."""
    from dabench.bench.store import ResultStore
    from dabench.models.pretrained import run_folder

    if not (Path(store) / "results.jsonl").is_file():
        raise DabenchError(f"--results {store}: no results.jsonl; give the folder of a `dabench bench` store")
    by_path: dict[str, list[float]] = {}
    for row in ResultStore(store).rows():
        origin = (row.get("init_from") or {}).get("path")
        if origin and row.get("target") == target:
            by_path.setdefault(str(Path(origin).resolve()), []).append(row["target_accuracy"])
    out = {}
    for candidate in candidates:
        path = Path(candidate).expanduser()
        key = str(run_folder(path)) if path.exists() else None
        if key in by_path:
            out[candidate] = float(np.mean(by_path[key]))
    return out


def correlations(table: dict[str, dict[str, float]], accuracy: dict[str, float]) -> dict[str, dict[str, float]]:
    """{score: {"kendall_tau", "weighted_tau", "n"}} between each score and the accuracy over the candidates
    that have both (scipy.stats.kendalltau, scipy.stats.weightedtau)."""
    from scipy.stats import kendalltau, weightedtau

    shared = [c for c in table if c in accuracy]
    if len(shared) < 3:
        raise DabenchError(f"rank correlations need at least 3 candidates with fine-tuning results, found "
                           f"{len(shared)}; fine-tune from more candidates (model.init_from) into the store")
    acc = np.array([accuracy[c] for c in shared])
    out = {}
    for name in next(iter(table.values())):
        values = np.array([table[c][name] for c in shared])
        out[name] = {"kendall_tau": float(kendalltau(values, acc).statistic),
                     "weighted_tau": float(weightedtau(values, acc).statistic), "n": len(shared)}
    return out


def scatter(table: dict[str, dict[str, float]], accuracy: dict[str, float], path: Path, title: str) -> None:
    """One panel per score: score (x) against measured accuracy (y), one point per candidate; PNG and PDF."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shared = [c for c in table if c in accuracy]
    names = list(next(iter(table.values())))
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.0), squeeze=False)
    for ax, name in zip(axes[0], names):
        ax.scatter([table[c][name] for c in shared], [accuracy[c] for c in shared], s=18)
        ax.set_xlabel(name)
        ax.set_ylabel("target accuracy (%)")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in (".png", ".pdf"):
        fig.savefig(path.with_suffix(suffix), dpi=120)
    plt.close(fig)


def rank(cfg: dict, candidates: list[str], scores: list[str], results: str | None = None,
         out: str | Path | None = None) -> str:
    """Score `candidates` on the label budget of the resolved task-adaptation config `cfg`; returns the report
    (markdown: the scores, best first by the first score, and with `results` Kendall's tau per score). With
    `out`, writes transferability.md, transferability.json and, with `results`, figures/scores_vs_accuracy."""
    import json

    from dabench.data.base import DATASETS
    from dabench.data.loaders import TransferData
    from dabench.io import write_bytes_atomic, write_json_atomic
    from dabench.run import label_draw

    for name in scores:
        SCORES.get(name)  # an unknown name fails before any forward pass, with the known ones
    dataset = DATASETS.build(cfg["dataset"], root=cfg["data_root"])
    data = TransferData(dataset, "none", cfg["target"], target_labeled=cfg["target_labeled"],
                        target_label_fraction=cfg["target_label_fraction"],
                        label_seed=cfg["seed"] if label_draw(cfg) == "per_seed" else 0)
    table = score_candidates(candidates, data, scores)
    budget = (f"{cfg['target_labeled']} labels per class" if cfg["target_labeled"]
              else f"{cfg['target_label_fraction']:g} of the labels")
    first = "logme" if "logme" in scores else scores[0]
    accuracy = measured_accuracy(results, candidates, cfg["target"]) if results else {}
    measured = ["fine-tuned accuracy (%)"] if results else []
    lines = [f"# Transferability to {cfg['dataset']['name']}/{cfg['target']} ({budget}, seed {cfg['seed']}, "
             f"{len(data.source_train.y)} samples)", "", f"Best first by {first}.", "",
             "| candidate | what | " + " | ".join(scores + measured) + " |",
             "|---|---|" + "---:|" * (len(scores) + len(measured))]
    for candidate, row in sorted(table.items(), key=lambda item: -item[1][first]):
        acc = [f"{accuracy[candidate]:.1f}" if candidate in accuracy else "–"] if results else []
        lines.append(f"| {candidate} | {describe(candidate)} | " + " | ".join([f"{row[s]:.4f}" for s in scores] + acc)
                     + " |")
    report = {"config": cfg, "scores": table}
    if results:
        taus = correlations(table, accuracy)
        report.update(accuracy=accuracy, correlations=taus)
        lines += ["", f"Rank correlation with the fine-tuned target accuracy in {results} "
                      f"({taus[scores[0]]['n']} candidates):", "", "| score | Kendall's tau | weighted tau |",
                  "|---|---:|---:|"]
        lines += [f"| {name} | {t['kendall_tau']:.3f} | {t['weighted_tau']:.3f} |" for name, t in taus.items()]
        if out:
            scatter(table, accuracy, Path(out) / "figures" / "scores_vs_accuracy",
                    f"{cfg['dataset']['name']}/{cfg['target']}: score vs fine-tuned accuracy")
    text = "\n".join(lines) + "\n"
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(text.encode(), Path(out) / "transferability.md")
        write_json_atomic(json.loads(json.dumps(report, default=str)), Path(out) / "transferability.json")
    return text
