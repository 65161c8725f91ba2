"""Build paper_results/<dataset>.json from the compiled reference (../shared/paper_results_reference.json).

Every record keeps its source fields verbatim (source, kind, paper, protocol, verification,
note...) and gains dabench keys where a dabench dataset, method and backbone correspond:
``dabench_dataset``, ``dabench_pair`` ([source, target] domain names), ``dabench_method``,
``dabench_backbone``. Run: ``python paper_results/build.py PATH/TO/paper_results_reference.json``.
"""
import json
import sys
from collections import defaultdict
from pathlib import Path

FILES = {"Office-31": "office31", "Office-Home": "office_home", "VisDA-2017": "visda2017", "Digits": "digits",
         "Amazon reviews": "amazon_reviews", "DomainNet": "domainnet", "DomainNet (multi-source)": "domainnet"}
METHODS = {"Source-only (ERM)": "source_only", "Source-only (LeNet)": "source_only",
           "Source-only (SHOT protocol)": "source_only", "Source-only (ResNet-50)": "source_only",
           "NN (source-only)": "source_only", "DAN": "dan", "DANN": "dann", "Deep CORAL": "deep_coral",
           "DANN (gradient reversal, as reported in ADDA)": "dann", "JAN": "jan", "CDAN": "cdan",
           "CDAN+E": "cdan_e", "MDD": "mdd", "BSP+CDAN": "cdan_bsp", "AFN": "afn", "MCD": "mcd", "ADDA": "adda",
           "MCC": "mcc", "SHOT": "shot"}
DATASETS = {"Digits": "digits", "Amazon reviews": "amazon_review_400"}
DOMAINS = {"MNIST": "mnist", "USPS": "usps", "MNIST-M": "mnistm", "books": "books", "dvd": "dvd",
           "electronics": "electronics", "kitchen": "kitchen"}
BACKBONES = {"LeNet (28x28 gray, from scratch)": "lenet", "LeNet": "lenet", "LeNet-5 (LeNetBase)": "lenet",
             "shallow NN, 1 hidden layer (5000-d unigram/bigram features)": "mlp"}


def annotate(record: dict) -> dict:
    source, _, target = record["pair"].partition("->")
    if record["dataset"] in DATASETS and source in DOMAINS and target in DOMAINS:
        record["dabench_dataset"] = DATASETS[record["dataset"]]
        record["dabench_pair"] = [DOMAINS[source], DOMAINS[target]]
    if record["method"] in METHODS:
        record["dabench_method"] = METHODS[record["method"]]
    if record["backbone"] in BACKBONES:
        record["dabench_backbone"] = BACKBONES[record["backbone"]]
    return record


def main(reference: str) -> None:
    by_file = defaultdict(list)
    for record in json.loads(Path(reference).read_text()):
        by_file[FILES.get(record["dataset"], "other")].append(annotate(record))
    for name, records in by_file.items():
        path = Path(__file__).parent / f"{name}.json"
        path.write_text(json.dumps(records, indent=1, ensure_ascii=False) + "\n")
        print(f"{path}: {len(records)} records")


if __name__ == "__main__":
    main(sys.argv[1])
