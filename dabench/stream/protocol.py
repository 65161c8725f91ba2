"""The stream protocol: a source model meets the target's test inputs as an ordered stream of batches.

    dataset, source, model, trainer, optim, seed   the source model: source only on the source domain, the
                                                  cached first stage the two-stage methods share; or, with
                                                  `source: none`, the backbone's own pretrained classifier
                                                  (an ImageNet model on ImageNet-C), trained on nothing here
    targets: [d1, d2, ...]                        the stream's domains in order: one is online adaptation,
                                                  several are continual adaptation (no reset between them)
    method: tent | {name: tent, lr: 0.001}        a test-time method (dabench.stream.methods)
    stream: {batch_size, episodic, order, dirichlet_alpha, checkpoint_every}

Each batch is seen once: the method returns its logits (adapting as it does), and the batch is scored
from those at once. The method never receives a label: the labels stay with the scorer (`score`)
and, for a non-i.i.d. stream, the order builder (`non_iid_order`). Reported: the online accuracy
per domain and over the whole stream, the accuracy over the stream after each batch (the curve),
and the final model's accuracy on a second pass over each domain's inputs without adapting.
The order is drawn from the seed and recorded; a stream resumes from its last checkpoint and
finishes bit for bit as an uninterrupted one (CPU).
"""
from __future__ import annotations

import copy
import hashlib
import time
from pathlib import Path

import numpy as np
import torch
from pydantic import ValidationError

from dabench.config import canonical_json, resolve
from dabench.data.base import DATASETS
from dabench.data.loaders import NO_SOURCE
from dabench.errors import DabenchError
from dabench.io import load_checkpoint, make_folder, read_json, save_atomic, save_figure, write_json_atomic
from dabench.methods.base import METHODS
from dabench.models.model import Model
from dabench.models.pretrained import build_from_config
from dabench.provenance import provenance
from dabench.run import seed_everything, train_source_stage
from dabench.schema import RunConfig, StreamOptions, describe
from dabench.stream.base import STREAM_METHODS

PROTOCOL = ("stream: each target test batch seen once, scored from the predictions returned on arrival; "
            "no labels, no source data, no second pass")


STREAM_KEYS = ("targets", "method", "stream")


def resolve_stream(raw: dict) -> dict:
    """The validated stream config: {run: the source model's resolved run config, targets, method, stream, hash}.
    Every problem is a one-line error before any work."""
    unknown = set(raw) - set(RunConfig.model_fields) - set(STREAM_KEYS) - {"target"}
    if unknown or "target" in raw:
        raise DabenchError(f"stream config: unknown key(s) {', '.join(sorted(unknown | ({'target'} & set(raw))))}; "
                           f"a stream names its domains in `targets`; keys: {', '.join(STREAM_KEYS)} and a run "
                           f"config's (dataset, source, model, trainer, optim, seed, ...)")
    targets = raw.get("targets")
    if not targets or not isinstance(targets, list):
        raise DabenchError("stream config: `targets` must list the stream's domains in order, e.g. [usps, mnistm]")
    run = resolve({**{k: v for k, v in raw.items() if k not in STREAM_KEYS}, "target": targets[0],
                   "method": "source_only"})
    dataset = DATASETS.build(run["dataset"], root=run["data_root"])
    for domain in targets:
        dataset.check_domain(domain)
        if dataset.missing_files(domain):
            raise DabenchError(f"{dataset.name}: missing {', '.join(dataset.missing_files(domain))} under data root "
                               f"{dataset.root} (domain {domain}); run {dataset.fetch_command()} or set DABENCH_DATA")
    method = raw.get("method", "source")
    name = method if isinstance(method, str) else dict(method).get("name")
    if name not in STREAM_METHODS.names() and name in METHODS.names():
        raise DabenchError(f"stream: {name} is a training method: it adapts with the source data, which a stream does "
                           f"not have (dabench train runs it); test-time methods: {', '.join(STREAM_METHODS.names())}")
    STREAM_METHODS.build(method)  # an unknown name or a bad parameter fails here
    try:
        options = StreamOptions(**raw.get("stream", {})).model_dump()
    except ValidationError as err:
        raise describe(err, StreamOptions, "stream") from None
    if run["source"] == NO_SOURCE and (run["model"]["bottleneck_dim"] or run["model"]["head_width"]):
        raise DabenchError("stream: source none takes the backbone's own pretrained classifier over its features; "
                           "set model.bottleneck_dim=0 (and no model.head_width)")
    spec = {"name": method} if isinstance(method, str) else dict(method)
    cfg = {"run": dict(run), "targets": list(targets), "method": spec, "stream": options}
    return {**cfg, "hash": hashlib.sha256(canonical_json({**cfg, "run": run.hash}).encode()).hexdigest()[:16]}


def pretrained_classifier(run: dict, input_shape: tuple[int, ...], num_classes: int) -> tuple[Model, dict]:
    """The source model of `source: none`: the run's backbone with the classifier it ships as the model's head
    (N, ...) -> (N, num_classes), trained on nothing here; and its summary, as ``train_source_stage``'s."""
    model = build_from_config(run["model"], input_shape, num_classes)
    head = model.pretrained_head
    if head is None:
        raise DabenchError(f"stream: source none takes the backbone's own classifier, and backbone "
                           f"{run['model']['backbone']['name']} ships none with these weights; give pretrained "
                           f"weights (e.g. model.backbone={{name: resnet50, weights: IMAGENET1K_V1}}) or a source "
                           f"domain to train on")
    outputs = [layer for layer in head.modules() if isinstance(layer, torch.nn.Linear)][-1].out_features
    if outputs != num_classes:
        raise DabenchError(f"stream: the backbone's own classifier has {outputs} outputs and dataset "
                           f"{run['dataset']['name']} has {num_classes} classes; source none needs the same classes "
                           f"in the same order (an ImageNet model on ImageNet-C)")
    model.classifier = copy.deepcopy(head)
    return model, {"path": None, "config_hash": None, "method": {"name": "none"}, "model": run["model"], "steps": 0,
                   "source_test_accuracy": None, "classifier": "the backbone's own pretrained head, not trained here"}


def _inputs_and_labels(dataset) -> tuple[torch.Tensor, torch.Tensor]:
    if hasattr(dataset, "tensors"):
        return dataset.tensors
    loader = torch.utils.data.DataLoader(dataset, batch_size=512)
    parts = list(loader)
    return torch.cat([x for x, _ in parts]), torch.cat([y for _, y in parts])


def non_iid_order(labels: torch.Tensor, batch_size: int, alpha: float, generator: np.random.Generator) -> np.ndarray:
    """A class-bursty order of len(labels) indices: each class's samples (shuffled) go to the stream's
    ceil(n / batch_size) slots by a Dirichlet(alpha) draw of slot shares; slots are concatenated in order."""
    labels = np.asarray(labels)
    slots = [[] for _ in range(-(-len(labels) // batch_size))]
    for c in np.unique(labels):
        members = generator.permutation(np.flatnonzero(labels == c))
        shares = generator.dirichlet(np.full(len(slots), alpha))
        for index, slot in zip(members, generator.choice(len(slots), size=len(members), p=shares)):
            slots[slot].append(index)
    return np.concatenate([generator.permutation(np.array(s, dtype=np.int64)) for s in slots if s])


def stream_order(labels: dict[str, torch.Tensor], targets: list[str], options: dict, seed: int) -> list[np.ndarray]:
    """The order of each target domain's test samples, drawn from `seed` (the same for every method)."""
    orders = []
    for i, domain in enumerate(targets):
        generator = np.random.default_rng([seed, i])
        if options["order"] == "dirichlet":
            orders.append(non_iid_order(labels[domain], options["batch_size"], options["dirichlet_alpha"], generator))
        else:
            orders.append(generator.permutation(len(labels[domain])))
    return orders


def segment_names(targets: list[str]) -> list[str]:
    """The name of each stretch of the stream: its domain, with " (k)" on the k-th visit of a domain seen before
    (a gradual stream, fog-1 ... fog-5 ... fog-1, visits domains twice)."""
    seen: dict[str, int] = {}
    names = []
    for domain in targets:
        seen[domain] = seen.get(domain, 0) + 1
        names.append(domain if seen[domain] == 1 else f"{domain} ({seen[domain]})")
    return names


def score(logits: torch.Tensor, labels: torch.Tensor, index: np.ndarray) -> int:
    """Correct predictions among a batch's (N, C) logits, the batch being samples `index` of a domain whose labels
    are `labels`: the one place the stream's labels are read."""
    return int((logits.argmax(1) == labels[torch.as_tensor(index)]).sum())


def final_accuracy(method, inputs: torch.Tensor, labels: torch.Tensor, order: np.ndarray, batch_size: int) -> float:
    """The adapted method's accuracy (%) on a second pass over a domain's inputs in `order`, in batches, each
    answered as on arrival and then forgotten."""
    chunks = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    hits = sum(score(method.predict(inputs[torch.as_tensor(chunk)]), labels, chunk) for chunk in chunks)
    return 100.0 * hits / len(order)


def run_stream(raw: dict, out: str | Path, progress: bool = False) -> dict:
    """Run (or resume, or return the finished) stream of config `raw` in folder `out`; returns result.json."""
    cfg = resolve_stream(raw)
    out = make_folder(out)
    if (out / "result.json").exists():
        done = read_json(out / "result.json")
        if done.get("config_hash") != cfg["hash"]:
            raise DabenchError(f"{out} holds a finished stream with another config; choose another --out")
        return done
    run, options = cfg["run"], cfg["stream"]
    started = time.perf_counter()
    dataset = DATASETS.build(run["dataset"], root=run["data_root"])
    inputs, labels = {}, {}
    for domain in cfg["targets"]:
        inputs[domain], labels[domain] = _inputs_and_labels(dataset.load(domain, "test"))
        if options["batch_size"] > len(inputs[domain]):
            raise DabenchError(f"stream: batch_size {options['batch_size']} is larger than the {len(inputs[domain])} "
                               f"test samples of {domain}; use at most {len(inputs[domain])}")
    seed_everything(run["seed"])
    if run["source"] == NO_SOURCE:
        model, stage = pretrained_classifier(run, tuple(dataset.input_shape), dataset.num_classes)
    else:
        model, stage = train_source_stage(run, {}, tuple(dataset.input_shape), dataset.num_classes)
    seed_everything(run["seed"])
    orders = stream_order(labels, cfg["targets"], options, run["seed"])
    names = segment_names(cfg["targets"])
    batches = [(name, domain, order[i:i + options["batch_size"]])
               for name, domain, order in zip(names, cfg["targets"], orders)
               for i in range(0, len(order), options["batch_size"])]
    method = STREAM_METHODS.build(cfg["method"])
    method.setup(model)
    correct, position = [], 0
    checkpoint = out / "checkpoint.pt"
    if checkpoint.exists():
        state = load_checkpoint(checkpoint)
        if state["config_hash"] == cfg["hash"]:
            method.load_state_dict(state["method"])
            correct, position = list(state["correct"]), state["position"]
            torch.set_rng_state(state["rng"])
    for b in range(position, len(batches)):
        _, domain, index = batches[b]
        logits = method(inputs[domain][torch.as_tensor(index)])
        correct.append(score(logits.detach(), labels[domain], index))
        if options["episodic"]:
            method.reset()
        if (b + 1) % options["checkpoint_every"] == 0 and b + 1 < len(batches):
            save_atomic({"config_hash": cfg["hash"], "position": b + 1, "correct": correct,
                         "method": method.state_dict(), "rng": torch.get_rng_state()}, checkpoint)
        if progress:
            print(f"\r{cfg['method']['name']}: batch {b + 1}/{len(batches)} ({domain})", end="", flush=True)
    sizes = [len(index) for _, _, index in batches]
    per_domain = {name: 100.0 * sum(c for c, (n, _, _) in zip(correct, batches) if n == name) / len(order)
                  for name, order in zip(names, orders)}
    final = dict(per_domain) if method.episodic_by_design else \
        {name: final_accuracy(method, inputs[domain], labels[domain], order, options["batch_size"])
         for name, domain, order in zip(names, cfg["targets"], orders)}
    curve = (100.0 * np.cumsum(correct) / np.cumsum(sizes)).round(4).tolist()
    order_digest = hashlib.sha256(b"".join(np.asarray(o, dtype=np.int64).tobytes() for o in orders)).hexdigest()
    result = {"config": {k: v for k, v in cfg.items() if k != "hash"}, "config_hash": cfg["hash"],
              "method": cfg["method"]["name"], "source": run["source"], "targets": cfg["targets"],
              "seed": run["seed"], "protocol": PROTOCOL, "online_accuracy": curve[-1],
              "online_accuracy_per_domain": per_domain, "final_model_accuracy": final,
              "final_model_pass": "the online pass (the method returns to the source after every input)"
              if method.episodic_by_design else "a second pass over each domain's inputs", "batches": len(batches),
              "batches_per_domain": {name: sum(n == name for n, _, _ in batches) for name in names},
              "curve": curve, "stream_order_sha256": order_digest, "source_stage": stage,
              "updates": method.updates, "keeps": method.keeps, "wall_s": time.perf_counter() - started,
              **provenance(torch.device("cpu"), run["trainer"]["threads"])}
    write_json_atomic({name: np.asarray(o).tolist() for name, o in zip(names, orders)}, out / "stream_order.json")
    curve_figure(result, out / "curve.png")
    write_json_atomic(result, out / "result.json")
    checkpoint.unlink(missing_ok=True)
    return result


def curve_figure(result: dict, path: Path) -> None:
    """Online accuracy over the stream after each batch, the domain boundaries marked."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3))
    ax = fig.subplots()
    ax.plot(range(1, len(result["curve"]) + 1), result["curve"], lw=1.2)
    start = 0
    for name in segment_names(result["targets"]):
        ax.axvline(start + 0.5, color="grey", lw=0.5)
        ax.text(start + 1, ax.get_ylim()[0], name, fontsize=7, va="bottom")
        start += result["batches_per_domain"][name]
    ax.set_xlabel("batch")
    ax.set_ylabel("online accuracy so far (%)")
    ax.set_title(f"{result['method']}: {result['source']} → {' → '.join(result['targets'])}, seed {result['seed']}",
                 fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)
