"""The ``dabench`` command: list, train, data. User errors print one line, never a traceback."""
from __future__ import annotations

import argparse
import collections
import inspect
import json
import sys
from pathlib import Path

from dabench import protocols
from dabench.config import family_config
from dabench.config_files import apply_overrides, load_yaml, parse_yaml
from dabench.errors import DabenchError


def cmd_list(args) -> None:
    from dabench.catalogue import first_line, method_uses, parameters
    from dabench.losses.terms import ALIGNMENTS
    from dabench.methods.base import METHODS
    from dabench.models.backbones import BACKBONES

    if args.what in ("all", "methods"):
        print("methods:")
        for name in METHODS.names():
            summary = first_line(inspect.getmodule(METHODS.get(name))) or first_line(METHODS.get(name))
            print(f"  {name:16s} {summary}\n  {'':16s} {method_uses(name)}"
                  f"\n  {'':16s} ({parameters(METHODS, name)})")
    if args.what in ("all", "datasets"):
        print("datasets:")
        for dataset in _datasets(None, None):
            domains = ", ".join(d + ("" if dataset.present(d) else " (missing)" if dataset.missing_files(d)
                                     else " (written on first use)") for d in dataset.domains)
            print(f"  {dataset.name:22s} {dataset.num_classes} classes; domains: {domains}")
            if dataset.citation:
                print(f"  {'':22s} cite: {dataset.citation}; licence: {dataset.licence}")
        print(f"  {'folder':22s} your own images: {{name: folder, path: DIR}}, DIR/<domain>/<class>/* or "
              f"DIR/<domain>.txt image lists")
        print(f"  {'audio_folder':22s} your own audio: {{name: audio_folder, path: DIR}}, DIR/<domain>/<class>/*.wav")
    if args.what in ("all", "backbones"):
        print("backbones:")
        for name in BACKBONES.names():
            print(f"  {name:10s} {first_line(BACKBONES.get(name))}")
    if args.what in ("all", "validators"):
        from dabench.selection.validators import VALIDATORS, reads

        print("validators (label-free selection rules: dabench table --select NAME; also last, source_val, oracle):")
        for name in VALIDATORS.names():
            validator = VALIDATORS.get(name)
            print(f"  {name:10s} {first_line(validator)} [reads {', '.join(reads(name))}]")
    if args.what in ("all", "scores"):
        from dabench.transferability import SCORES

        print("transferability scores (dabench rank --scores NAME,...):")
        for name in SCORES.names():
            score = SCORES.get(name)
            reads = "features and the pretrained classifier's logits" if getattr(score, "needs_logits", False) \
                else "features"
            print(f"  {name:10s} {first_line(score)} [reads {reads}]")
    if args.what in ("all", "protocols"):
        print("protocols (protocol: NAME in a run config or benchmark file; configs/protocols/):")
        for name in protocols.names():
            protocol = protocols.load(name)
            print(f"  {name:10s} {protocol.description} [{len(protocol.rules)} rules]")
    if args.what in ("all", "stream"):
        from dabench.stream.base import STREAM_METHODS

        print("test-time methods (the stream setting: dabench stream CONFIG, a source model adapting on the target's "
              "test stream):")
        for name in STREAM_METHODS.names():
            method = STREAM_METHODS.get(name)
            print(f"  {name:10s} {first_line(method)} [updates {method.updates}; keeps {method.keeps}]"
                  f" ({parameters(STREAM_METHODS, name)})")
    if args.what in ("all", "terms"):
        print("alignment terms (for {name: align, terms: {...}}):")
        for name in ALIGNMENTS.names():
            print(f"  {name:12s} {first_line(ALIGNMENTS.get(name))} ({parameters(ALIGNMENTS, name)})")


def run_config(args) -> tuple[dict, list[tuple[str, dict]]]:
    """The run config of `dabench train` / `config show`: a file, then its protocol's rules, then the flags, then
    key=value overrides; also each layer by name (for the origins that `config show` prints)."""
    if args.config:
        first = (str(args.config), load_yaml(args.config))
    else:
        dataset = args.dataset or "mini_digits"
        first = (f"configs/datasets/{dataset}.yaml", family_config(dataset))
    flags = {key: getattr(args, key) for key in ("method", "dataset", "source", "target", "seed")
             if getattr(args, key) is not None}
    for key in ("dataset", "method"):  # a flag naming the file's own entry keeps that entry's options
        if key in flags and isinstance(first[1].get(key), dict) and first[1][key].get("name") == flags[key]:
            del flags[key]
    cfg = protocols.apply(first[1], apply_overrides(flags, args.overrides))
    name = cfg.get("protocol", "paper")
    layers = [first, (f"protocol {name}", protocols.layer(name, protocols.identity(cfg))), ("flag", flags),
              ("override", apply_overrides({}, args.overrides))]
    return cfg, layers


def cmd_train(args) -> None:
    from dabench.run import train

    cfg, _ = run_config(args)
    result = train(cfg, args.out, resume=args.resume, progress_bar=not args.quiet)
    if not result:  # a torchrun process other than rank 0
        return
    summary = {k: result[k] for k in ("method", "dataset", "source", "target", "seed", "target_accuracy",
                                      "source_accuracy", "steps", "wall_s")}
    # No source validation split (val_fraction 0) leaves source_accuracy NaN, which strict JSON has no word for.
    print(json.dumps({k: None if isinstance(v, float) and v != v else v for k, v in summary.items()},
                     allow_nan=False))
    print(f"wrote {args.out}/result.json")


def cmd_rank(args) -> None:
    from dabench.config import resolve
    from dabench.transferability import SCORES
    from dabench.transferability.rank import rank

    args.config, args.method, args.source = None, {"name": "fine_tune", "allow_random_backbone": True}, "none"
    # --candidates takes every word after it; key=value words among them are overrides.
    args.overrides += [c for c in args.candidates if "=" in c and not Path(c).exists()]
    args.candidates = [c for c in args.candidates if c not in args.overrides]
    if not args.candidates:
        raise DabenchError("dabench rank: give at least one candidate after --candidates")
    cfg, _ = run_config(args)
    scores = args.scores.split(",") if args.scores else SCORES.names()
    print(rank(resolve(cfg), args.candidates, scores, args.results, args.out), end="")


def cmd_config(args) -> None:
    from dabench.config import explain, resolve

    cfg, layers = run_config(args)
    print(explain(layers, resolve(cfg, check_data=False)), end="")


def cmd_bench(args) -> None:
    from dabench.bench.benchmark import run_benchmark

    slurm = {}
    for item in args.slurm:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise DabenchError(f"--slurm {item}: expected KEY=VALUE (a submitit option), e.g. --slurm timeout_min=60")
        slurm[key] = parse_yaml(value)
    if args.runs_per_gpu > 1 and args.executor != "gpus":
        raise DabenchError(f"--runs-per-gpu {args.runs_per_gpu} packs runs on GPUs; add --executor gpus (with "
                           f"--executor {args.executor}, use --workers)")
    outcome = run_benchmark(args.grid, args.out, args.overrides, args.executor, args.workers, slurm,
                            progress_bar=not args.quiet, runs_per_gpu=args.runs_per_gpu, detach=args.detach)
    print(outcome["table"])
    ran = [cell_id for cell_id, s in outcome["status"].items() if s == "ran"]
    counts = collections.Counter(outcome["status"].values())
    others = "".join(f", {counts[s]} {s}" for s in ("failed", "lost", "submitted") if counts[s])
    print(f"ran {len(ran)} run(s), {counts['done']} already finished or run elsewhere{others}; results in {args.out}")
    print("ran: " + ",".join(ran))


def cmd_table(args) -> None:
    from dabench.bench.report import render, write_tables
    from dabench.bench.selection import compare, write_comparison

    if (Path(args.results) / "grid.yaml").exists():  # a stream benchmark's folder
        from dabench.stream.benchmark import write_stream_tables

        if args.format not in ("md", "csv") or args.compare_selection or args.methods or args.select:
            raise DabenchError(f"{args.results} holds a stream benchmark: its tables are md (table.md) and csv "
                               f"(per_domain.csv), without --methods, --select or --compare-selection")
        print(write_stream_tables(args.results, write=args.write)[args.format], end="")
        return
    if args.compare_selection:
        if args.format == "tex":
            raise DabenchError("--compare-selection writes md or csv; use --format md or csv")
        outputs = write_comparison(args.results) if args.write else compare(args.results)
    else:
        methods = args.methods.split(",") if args.methods else None
        options = {"metric": args.metric, "methods": methods, "select": args.select}
        outputs = write_tables(args.results, **options) if args.write else render(args.results, **options)
    print(outputs[args.format], end="")


def cmd_stream(args) -> None:
    from dabench.stream.protocol import run_stream

    result = run_stream(apply_overrides(load_yaml(args.config), args.overrides), args.out, progress=not args.quiet)
    domains = ", ".join(f"{d} {a:.1f}" for d, a in result["online_accuracy_per_domain"].items())
    print(f"\n{result['method']}: online accuracy {result['online_accuracy']:.2f}% over {result['batches']} batches "
          f"({domains}); results in {args.out}")


def cmd_report(args) -> None:
    from dabench.bench.html import write_report

    print(f"wrote {write_report(args.results, args.html)} (self-contained: open it in a browser, offline)")


def cmd_store(args) -> None:
    from dabench.bench.store import ResultStore

    problems = ResultStore(args.results).check(repair=args.repair)
    for problem in problems:
        print(f"  {'REPAIRED' if args.repair else 'DAMAGED'} {problem}")
    if not problems:
        print(f"{args.results}: ok, nothing damaged")
    elif args.repair:
        print(f"{args.results}: repaired {len(problems)} problem(s); rerun dabench bench to recompute what was lost")
    else:
        raise DabenchError(f"{len(problems)} problem(s) in {args.results} (listed above); run `dabench store check "
                           f"{args.results} --repair` to set damaged files aside and rerun those cells")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


LOCAL_FOLDERS = ("folder", "audio_folder")  # datasets with no files of their own: the user's folder
AT_A_PATH = (*LOCAL_FOLDERS, "spoken_digits_synth")  # datasets that read a folder given as `path`


def _datasets(names, root, folder_path: str | None = None):
    """Build each named dataset (all when none). `folder` and `audio_folder` have no files of their
    own: they are built from `folder_path` when named, and left out of "all"."""
    from dabench.data.base import DATASETS

    for name in set(names or ()) & set(LOCAL_FOLDERS):
        if not folder_path:
            raise DabenchError(f"dataset '{name}' needs --path DIR (the folder of your domains)")
    return [DATASETS.build({"name": name, "path": folder_path} if name in AT_A_PATH and folder_path else name,
                           root=root)
            for name in names or DATASETS.names() if name not in LOCAL_FOLDERS or names]


def check_archive_options(dataset, delete_archives: bool) -> None:
    from dabench.data.archives import FileListDataset

    if delete_archives and not isinstance(dataset, FileListDataset):
        raise DabenchError(f"--delete-archives: {dataset.name} reads the files it downloads as they are (no archive "
                           f"to extract and delete); leave the option out")


def cmd_data(args) -> None:
    from dabench.data.base import DATASETS, data_root
    from dabench.data.speech_synth import write_corpus

    root = data_root(args.root)
    if args.action == "where":
        print(root)
        return
    if args.action == "synth-speech":
        from dabench.data.spoken_digits import SpokenDigitsSynth

        out = Path(args.out) if args.out else SpokenDigitsSynth().corpus
        manifest = write_corpus(out)
        print(f"spoken_digits_synth: wrote {len(manifest['files'])} WAV files ({manifest['synthesizer']}) and "
              f"{out / 'manifest.json'}; read it with dataset={{name: spoken_digits_synth, path: {out}}}"
              if args.out else f"spoken_digits_synth: wrote {len(manifest['files'])} WAV files under {out}")
        return
    if args.action in ("download", "import") and not args.names:
        raise DabenchError(f"name the dataset to {args.action}; known: {', '.join(DATASETS.names())}")
    # Only archive datasets extract what they fetch; the others read their downloaded files as they are.
    archive_options = {"keep_archives": False} if args.delete_archives else {}
    if args.action == "import":
        if len(args.names) != 2:
            raise DabenchError("usage: dabench data import NAME PATH (an archive or file obtained by hand, or a folder "
                               "holding them)")
        name, source = args.names
        dataset = DATASETS.build(name, root=root)
        check_archive_options(dataset, args.delete_archives)
        done = dataset.import_files(Path(source), **archive_options)
        print(f"{name}: imported and verified {', '.join(done)} under {root}")
        return
    domains = args.domains.split(",") if args.domains else None
    if args.action == "download":
        datasets = _datasets(args.names, root)
        for dataset in datasets:
            check_archive_options(dataset, args.delete_archives)
        for dataset in datasets:
            done = dataset.download(domains, **archive_options)
            print(f"{dataset.name}: {', '.join(done) if done else 'nothing to fetch'} ({root})")
        return
    problems, hints = 0, []
    for dataset in _datasets(args.names, root, args.path):
        found = dataset.verify()
        present = [d for d in dataset.domains if dataset.present(d)]
        absent = "absent" if any(dataset.missing_files(d) for d in dataset.domains) else "not written yet"
        print(f"{dataset.name:22s} {'CORRUPT' if found else 'ok' if present else absent}; "
              f"present: {', '.join(present) or 'none'}")
        print("".join(f"  CORRUPT {problem}\n" for problem in found), end="")
        problems += len(found)
        hints += [f"{dataset.name}: {dataset.repair_hint()}"] if found else []
    if problems:
        raise DabenchError(f"{problems} problem(s), listed above; {'; '.join(hints)}")


def parser() -> argparse.ArgumentParser:
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("dabench")
    except PackageNotFoundError:  # run from a source tree that is not installed
        from dabench import __version__ as installed
    p = argparse.ArgumentParser(prog="dabench", description="Domain-adaptation benchmark framework.")
    p.add_argument("--version", action="version", version=f"dabench {installed}")
    sub = p.add_subparsers(dest="command", required=True)

    ls = sub.add_parser("list", help="registered methods, datasets, backbones, alignment terms and validators")
    ls.add_argument("what", nargs="?", default="all", choices=["all", "methods", "stream", "datasets", "backbones",
                                                                "terms", "validators", "protocols", "scores"])
    ls.set_defaults(func=cmd_list)

    tr = sub.add_parser("train", help="train one method on one source->target pair",
                        description="Config = configs/datasets/<dataset>.yaml (or --config FILE), then the flags, "
                                    "then key=value overrides such as trainer.steps=500 optim.lr=0.01.")
    tr.add_argument("--config", help="YAML run config")
    tr.add_argument("--method")
    tr.add_argument("--dataset")
    tr.add_argument("--source")
    tr.add_argument("--target")
    tr.add_argument("--seed", type=int)
    tr.add_argument("--out", required=True, help="run folder: result.json, metrics.jsonl, checkpoint.pt")
    tr.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    tr.add_argument("--quiet", action="store_true", help="no progress bar")
    tr.add_argument("overrides", nargs="*", metavar="key=value")
    tr.set_defaults(func=cmd_train)

    config = sub.add_parser("config", help="print the fully resolved, typed run config with each value's origin",
                            description="config show: the config `dabench train` would run with the same flags and "
                                        "overrides, every default filled in, each key marked with where it comes from.")
    config.add_argument("action", choices=["show"])
    for flag in ("--config", "--method", "--dataset", "--source", "--target"):
        config.add_argument(flag)
    config.add_argument("--seed", type=int)
    config.add_argument("overrides", nargs="*", metavar="key=value")
    config.set_defaults(func=cmd_config)

    bench = sub.add_parser("bench", help="run a benchmark grid: methods x pairs x seeds -> tables and figures")
    bench.add_argument("grid", help="benchmark YAML (examples in configs/benchmarks/)")
    bench.add_argument("--out", required=True, help="results folder; rerun to resume or extend it")
    bench.add_argument("--executor", default="local", choices=["local", "gpus", "slurm", "submitit_local"])
    bench.add_argument("--workers", type=_positive_int, default=1,
                       help="local worker processes; each run gets cores / workers threads")
    bench.add_argument("--runs-per-gpu", type=_positive_int, default=1,
                       help="with --executor gpus: runs sharing each visible GPU (small models leave a large GPU idle)")
    bench.add_argument("--slurm", action="append", default=[], metavar="KEY=VALUE",
                       help="submitit parameter, e.g. timeout_min=60 slurm_partition=gpu gpus_per_node=1")
    bench.add_argument("--detach", action="store_true",
                       help="with --executor slurm: return once the jobs are submitted; `dabench table OUT --write` later")
    bench.add_argument("--quiet", action="store_true", help="no progress bars")
    bench.add_argument("overrides", nargs="*", metavar="key=value", help="applied to every run")
    bench.set_defaults(func=cmd_bench)

    table = sub.add_parser("table", help="render the tables of a benchmark folder from its results alone")
    table.add_argument("results", help="the --out folder of dabench bench")
    table.add_argument("--metric", default="target_accuracy", choices=["target_accuracy", "source_accuracy"])
    table.add_argument("--methods", help="comma-separated subset, in this order")
    table.add_argument("--select", metavar="RULE",
                       help="selection rule over checkpoints and sweep points (default: the benchmark file's "
                            "select, else last): last, source_val, a validator (entropy, im, bnm, snd, dev, iwcv) "
                            "or oracle, which reads target test labels and is labelled ORACLE")
    table.add_argument("--compare-selection", action="store_true",
                       help="every rule side by side, with regret against the oracle and Spearman correlations")
    table.add_argument("--format", default="md", choices=["md", "csv", "tex"])
    table.add_argument("--write", action="store_true",
                       help="also rewrite table.md/.csv/.tex in the folder (selection.md/.csv with "
                            "--compare-selection)")
    table.set_defaults(func=cmd_table)

    stream = sub.add_parser("stream", help="test-time adaptation in the stream protocol: each target batch seen "
                                           "once, scored from the predictions returned on arrival")
    stream.add_argument("config", help="stream YAML: a run config's keys with targets, method, stream "
                                       "(configs/streams/ has examples)")
    stream.add_argument("--out", required=True, help="results folder; rerun to resume an interrupted stream")
    stream.add_argument("--quiet", action="store_true")
    stream.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="e.g. method.lr=0.001 stream.batch_size=16")
    stream.set_defaults(func=cmd_stream)

    report = sub.add_parser("report", help="one self-contained HTML page of a results folder: tables, figures, "
                                           "per-run curves, failed runs, provenance")
    report.add_argument("results", help="the --out folder of dabench bench, or a committed results folder")
    report.add_argument("--html", required=True, metavar="OUT", help="the folder to write OUT/index.html in")
    report.set_defaults(func=cmd_report)

    store = sub.add_parser("store", help="check a benchmark folder for damaged files, and repair it",
                           description="check DIR: list damaged results, checkpoints, logs and expired claims; "
                                       "--repair sets them aside so that those cells run again.")
    store.add_argument("action", choices=["check"])
    store.add_argument("results", help="the --out folder of dabench bench")
    store.add_argument("--repair", action="store_true", help="set damaged files aside and rewrite results.jsonl")
    store.set_defaults(func=cmd_store)

    rk = sub.add_parser("rank", help="transferability scores (LogME, LEEP, NCE, H-score, TransRate) of candidate "
                                     "pretrained models on a target's labeled samples, before any training",
                        description="Each candidate is a finished dabench run (a store cell or a train --out folder) or "
                                    "a backbone spec (efficientnet_lite0, or '{name: resnet50, weights: DEFAULT}'). The "
                                    "samples are the task-adaptation label budget (target_labeled=K or "
                                    "target_label_fraction=F, drawn with --seed). With --results STORE, each score's "
                                    "Kendall tau against the accuracy of the runs in STORE fine-tuned from the "
                                    "candidates (model.init_from).")
    rk.add_argument("--dataset", required=True)
    rk.add_argument("--target", required=True)
    rk.add_argument("--candidates", nargs="+", required=True, metavar="RUN_OR_BACKBONE")
    rk.add_argument("--scores", help="comma-separated (default: all): " + "logme,leep,nce,hscore,transrate")
    rk.add_argument("--seed", type=int, default=0)
    rk.add_argument("--results", help="a store of fine-tuning runs from the candidates, for rank correlations")
    rk.add_argument("--out", help="folder for transferability.md, transferability.json and the scatter figure")
    rk.add_argument("overrides", nargs="*", metavar="key=value")
    rk.set_defaults(func=cmd_rank)

    data = sub.add_parser("data", help="datasets on disk: where, verify, download, import",
                          description="download NAME...: fetch, check and extract; import NAME PATH: the same from "
                                      "files obtained by hand; verify [NAME...]: recheck checksums and image counts; "
                                      "synth-speech: write the synthetic spoken-digits corpus (eSpeak NG).")
    data.add_argument("action", choices=["where", "verify", "download", "import", "synth-speech"])
    data.add_argument("names", nargs="*")
    data.add_argument("--domains", help="comma-separated domains to download (image datasets; default: all)")
    data.add_argument("--delete-archives", action="store_true",
                      help="download/import: delete each archive once extracted (its sha256 stays in the folder's "
                           "dabench-verified.json); halves the disk ImageNet-C needs")
    data.add_argument("--root", help="data root (default: $DABENCH_DATA or ~/.cache/dabench)")
    data.add_argument("--path", help="the folder of your domains, for `dabench data verify folder` (or audio_folder; "
                                     "or a spoken_digits_synth corpus written with synth-speech --out)")
    data.add_argument("--out", help="synth-speech: the folder to write the spoken-digits corpus to (default: "
                                    "where dataset spoken_digits_synth reads it, under $DABENCH_CACHE)")
    data.set_defaults(func=cmd_data)
    return p


def main(argv: list[str] | None = None) -> int:
    # Overrides may stand anywhere after the command (`bench FILE --out X trainer.steps=30`), so
    # argparse's leftovers of the form key=value join them; anything else is still an error.
    p = parser()
    args, extra = p.parse_known_args(argv)
    unknown = [item for item in extra if item.startswith("-") or "=" not in item or not hasattr(args, "overrides")]
    if unknown:
        p.error(f"unrecognized arguments: {' '.join(unknown)}")
    if extra:
        args.overrides = [*args.overrides, *extra]
    try:
        args.func(args)
    except DabenchError as err:
        print(f"dabench: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dabench: interrupted; rerun with --resume to continue from the last checkpoint", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
