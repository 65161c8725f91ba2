"""The typed config: every section's keys, types, ranges and defaults, in one place (pydantic).

Sections are strict: a value must already have its type (YAML and ``key=value`` overrides are
parsed as YAML, so ``trainer.steps=500`` is an int and ``optim.lr=1e-3`` a float); floats must
be finite. The keyword arguments of a dataset, method or backbone are typed by their constructor's
annotations instead (``Registry.check_kwargs``), so a new method declares its types once.

``describe(err)`` turns a pydantic ValidationError into dabench's one-line error: the dotted key,
what is wrong with the value, and the accepted keys (with "did you mean") for an unknown key.
"""
from __future__ import annotations

import difflib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dabench.errors import DabenchError

STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, arbitrary_types_allowed=True)
Spec = str | dict[str, Any]  # "name" or {name: ..., **constructor keyword arguments}


class Section(BaseModel):
    model_config = STRICT


class TrainerConfig(Section):
    """Keyword arguments of ``Trainer`` (which has no defaults of its own)."""

    steps: int = Field(1000, gt=0, description="iterations; each one source batch and one target batch")
    batch_size: int = Field(32, ge=2, description="samples per domain per step (batch norm needs 2)")
    eval_every: int = Field(250, gt=0, description="evaluate and checkpoint every k steps, and at the end")
    log_every: int = Field(25, gt=0, description="sync the running losses to the logs every k steps")
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$", description="auto, cpu, cuda or cuda:N")
    eval_batch_size: int = Field(1024, gt=0)
    eval_target_samples: int | None = Field(None, ge=2, description=(
        "the label-free validators score a fixed random subset (seed 0) of at most this many target train samples "
        "at each evaluation (a large target); null: all. Target accuracy is always over the whole test split"))
    threads: int | None = Field(None, ge=1, description="CPU threads (torch.set_num_threads); null: filled "
                                                        "in with this process's count when the config is resolved")
    compile: bool | Literal["backbone", "model"] = Field(False, description=(
        "torch.compile (nn.Module.compile, in place: checkpoints keep their keys): true or 'backbone' compiles the "
        "backbone, 'model' the whole model; loss terms stay eager. Off by default: compiling costs a minute or more "
        "per run"))
    channels_last: bool | None = Field(None, description=(
        "convolution weights and 4-D input batches in channels-last memory format; null: on with CUDA"))
    fused_optimizer: bool | None = Field(None, description=(
        "the optimizer step as fused kernels (torch.optim's fused=True); null: on with CUDA"))
    tf32: bool | None = Field(None, description="TF32 for the fp32 matmuls and convolutions on CUDA; null: on with CUDA")
    cudnn_benchmark: bool | None = Field(None, description=(
        "let cuDNN time its convolution algorithms for each input shape (torch.backends.cudnn.benchmark); null: on "
        "with CUDA"))


class Optim(Section):
    """The optimizer (torch.optim) and its learning-rate schedule (torch.optim.lr_scheduler), stepped
    once per iteration. `lr` is the head's base rate; the backbone's is lr * backbone_lr_mult (0.1 is
    the usual choice for a pretrained one)."""

    optimizer: Literal["sgd", "adam", "adamw"] = "sgd"
    lr: float = Field(0.01, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD only")
    nesterov: bool = Field(True, description="SGD only")
    betas: list[float] = Field(default_factory=lambda: [0.9, 0.999], min_length=2, max_length=2,
                               description="Adam and AdamW only")
    weight_decay: float = Field(5e-4, ge=0, description="L2 for SGD and Adam, decoupled for AdamW")
    schedule: Literal["inv", "inv_iter", "constant", "cosine", "step"] = Field(
        "inv", description="inv: lr (1 + gamma p)^-power with p = step / steps (DANN); inv_iter: the same "
                           "with p = the iteration (TLlib, gamma ~1e-3); cosine: CosineAnnealingLR to 0; step: "
                           "x step_gamma every step_size steps")
    gamma: float = Field(10.0, ge=0, description="inv and inv_iter schedules")
    power: float = Field(0.75, ge=0, description="inv and inv_iter schedules")
    step_size: int = Field(1000, gt=0, description="step schedule")
    step_gamma: float = Field(0.1, gt=0, description="step schedule")
    backbone_lr_mult: float = Field(1.0, ge=0)
    layer_decay: float = Field(1.0, gt=0, le=1, description=(
        "layer-wise learning-rate decay (ELECTRA, BEiT): the backbone's layer i of L (blocks in order, "
        "dabench.models.model.backbone_layer_ids) trains at lr * backbone_lr_mult * layer_decay^(L - i); 1: off"))

    @field_validator("betas")
    @classmethod
    def _betas(cls, betas):
        if not all(0 <= b < 1 for b in betas):
            raise ValueError(f"betas are in [0, 1), got {betas}")
        return betas


class ModelConfig(Section):
    """Keyword arguments of ``build_model``: backbone spec, bottleneck and head shape, dropout, frozen
    layers, initialisation (``dabench.models.model.Model`` documents each)."""

    backbone: Spec = "mlp"
    bottleneck_dim: int = Field(256, ge=0, description="0: no bottleneck")
    dropout: float = Field(0.0, ge=0, lt=1)
    freeze: list[str] = Field(default_factory=list, description="backbone layer names, or 'all'")
    bottleneck_batchnorm: bool = Field(True, description="False: Linear-ReLU bottleneck (TLlib's DAN)")
    head_width: int = Field(0, ge=0, description="0: linear classifier; > 0: two-layer head (MDD)")
    init: Literal["pytorch", "mdd"] = Field("pytorch", description="mdd: N(0, 0.005)/N(0, 0.01) weights")
    init_from: str | None = Field(None, description=(
        "start from a finished dabench run: its folder (a store cell or a `dabench train --out`) or its "
        "checkpoint.pt; its backbone and bottleneck weights are loaded, the classifier is new (task adaptation)"))
    init_from_id: str | None = Field(None, description=(
        "filled in when the config is resolved: 'cell:<config hash>' of the init_from run (hashed in its place, so "
        "moving the store never renames a run)"))

    @field_validator("freeze", mode="before")
    @classmethod
    def _one_name(cls, value):  # `model.freeze=all` on the command line is the usual form
        return [value] if isinstance(value, str) else value


class LoggingConfig(Section):
    """Where metrics go besides metrics.jsonl: metrics.csv, TensorBoard events, a wandb run."""

    csv: bool = False
    tensorboard: bool = False
    wandb: bool = False
    wandb_project: str = "dabench"
    wandb_mode: Literal["offline", "online", "disabled"] = "offline"
    wandb_group: str | None = None


class RunConfig(Section):
    """One training run: dataset + (source, target) + method + model + trainer + optim + logging."""

    dataset: Spec
    source: str = Field(description="a domain, several joined by + (multi-source DA), or none (task adaptation: "
                                    "fine-tune on the target's labels)")
    target: str
    method: Spec = "source_only"
    protocol: str = Field("paper", description="a preset in configs/protocols/ (dabench/protocols.py): paper, tllib")
    model: ModelConfig = Field(default_factory=ModelConfig)
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)
    optim: Optim = Field(default_factory=Optim)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    seed: int = Field(0, ge=0)
    val_fraction: float = Field(0.1, ge=0, lt=1, description="source train data held out as source_val")
    target_labeled: int = Field(0, ge=0, description=(
        "labeled target samples per class: semi-supervised DA, or with source none (task adaptation) the label "
        "budget, drawn per seed"))
    target_labeled_draw: Literal["fixed", "per_seed"] | None = Field(None, description=(
        "how the labeled target samples are drawn: fixed (seed 0, the same for every seed of a table) or per_seed "
        "(the run's seed); null: the setting's default, per_seed in task adaptation and fixed in semi-supervised DA "
        "(results record the draw used as target_labeled_draw)"))
    target_label_fraction: float | None = Field(None, gt=0, le=1, description=(
        "task adaptation (source none): the fraction of each class's target train labels that training reads "
        "(0.15, 0.3, 0.5, 1.0), drawn per seed; the alternative to target_labeled; null with target_labeled 0: all "
        "labels"))
    target_classes: list[int | str] | None = Field(None, min_length=1, description=(
        "partial DA: the target domain keeps only these classes (indices, or the dataset's class names); null: all"))
    source_classes: list[int | str] | None = Field(None, min_length=1, description=(
        "open-set DA: the source domain keeps only these classes, the known ones; target samples of other classes "
        "are 'unknown' and the table reports the H-score; null: all"))
    unseen_target: bool = Field(False, description=(
        "domain generalization: no target sample reaches training (the target domain is only tested); methods "
        "that read target batches are refused"))
    unknown_threshold: float = Field(0.5, gt=0, lt=1, description=(
        "open-set DA: a method without an unknown output predicts 'unknown' when its top softmax probability is "
        "below this"))
    data_root: str | None = None


class StreamOptions(Section):
    """How the target's test inputs arrive."""

    batch_size: int = Field(64, ge=1, description="inputs per batch (1: one at a time)")
    episodic: bool = Field(False, description="reset the method to the source model after every batch")
    order: Literal["iid", "dirichlet"] = Field("iid", description=(
        "iid: a random order per domain; dirichlet: classes arrive in bursts (NOTE, RoTTA): each class's samples "
        "are spread over the batches by a Dirichlet(dirichlet_alpha) draw"))
    dirichlet_alpha: float = Field(0.1, gt=0, description="smaller: longer runs of one class")
    checkpoint_every: int = Field(50, ge=1, description="batches between checkpoints (resume points)")


class Tsne(Section):
    """The benchmark file's ``tsne`` choice; unset keys default to the first adapted method, pair and seed."""

    method: str | None = None
    pair: list[str] | None = Field(None, min_length=2, max_length=2)
    seed: int | None = None


class GridFile(Section):
    """A benchmark file. Run sections (model, trainer...) are checked per cell by RunConfig."""

    model_config = ConfigDict(**{**STRICT, "strict": False})  # YAML lists for pairs
    name: str | None = None
    dataset: Spec
    pairs: Literal["all", "leave_one_out"] | list[list[str | list[str]]] = Field(min_length=1)
    methods: list[Spec] = Field(min_length=1)
    seeds: list[int] = Field(min_length=1)
    overrides: dict[str, Any] = Field(default_factory=dict)
    tsne: bool | Tsne = Field(True, description="the t-SNE figure: true (the first adapted method, pair and seed), "
                                                "false, or {method, pair, seed}")
    figures: bool = Field(True, description="false: tables only, no figures (a sweep whose pictures nobody reads; "
                                            "`dabench report` still draws each run's curves)")
    baseline: str = Field("source_only", description="the label gains are measured against (fine_tune by default "
                                                     "when every pair is task adaptation, [none, target])")
    select: str = Field("last", description="the selection rule of the benchmark's tables (selection/rules.py)")
    sweep: dict[str, Any] | None = Field(None, description="hyper-parameter points per method (bench/sweep.py)")
    protocol: str | None = Field(None, description="a preset in configs/protocols/ for every run (default paper)")
    model: dict[str, Any] | None = None
    trainer: dict[str, Any] | None = None
    optim: dict[str, Any] | None = None
    logging: dict[str, Any] | None = None
    val_fraction: Any = None
    target_labeled: Any = None
    target_label_fraction: Any = None
    target_labeled_draw: Any = None
    target_classes: Any = None
    source_classes: Any = None
    unknown_threshold: Any = None
    unseen_target: Any = None
    data_root: Any = None

    @field_validator("pairs")
    @classmethod
    def _pairs(cls, pairs):
        if pairs in ("all", "leave_one_out"):
            return pairs
        for pair in pairs:
            if len(pair) != 2 or isinstance(pair[1], list):
                raise ValueError(f"each pair is [source, target] (the source may be a list of domains), got {pair}")
            if pair[1] in (pair[0] if isinstance(pair[0], list) else [pair[0]]):
                raise ValueError(f"pair {pair} adapts a domain to itself; give a target that is not a source")
        if len({repr(p) for p in pairs}) != len(pairs):
            raise ValueError("a pair is listed twice; list each pair once")
        return pairs

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, seeds):
        if any(isinstance(s, bool) or s < 0 for s in seeds):
            raise ValueError("seeds are integers >= 0")
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"{seeds} lists a seed twice; list each seed once")
        return seeds

    @model_validator(mode="after")
    def _names(self):
        for entry in self.methods:
            if isinstance(entry, dict) and "name" not in entry:
                raise ValueError(f"method entry {entry} has no 'name'")
        return self


UNION_TAGS = ("function-", "literal[", "list[", "dict[", "union[", "nullable[", "tagged-union[")


def _model_at(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The pydantic model class that owns the key at `loc` (for listing its accepted keys)."""
    for part in loc[:-1]:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return model


def describe(err: ValidationError, schema: type[BaseModel], where: str = "config") -> DabenchError:
    """The first error of `err` as a one-line DabenchError: key, problem, value, fix."""
    tags = {c.__name__ for c in Section.__subclasses__()} | {"str", "bool", "int", "float", "none"}

    def key_path(error: dict) -> tuple:  # without pydantic's union-member tags ("str", "Tsne", "list[...]")
        return tuple(p for p in error["loc"] if p not in tags and not str(p).startswith(UNION_TAGS))

    # Of a union's alternatives, the error that got furthest into the value says most.
    first = max(err.errors(), key=lambda e: len(key_path(e)))
    loc = key_path(first)
    key = ".".join(str(p) for p in loc) or "(top level)"
    if first["type"] == "extra_forbidden":
        owner = _model_at(schema, loc)
        accepted = list(owner.model_fields) if owner else []
        close = difflib.get_close_matches(str(loc[-1]), accepted, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return DabenchError(f"{where}: unknown key '{key}'; accepted: {', '.join(accepted)}{hint}")
    message = first["msg"].removeprefix("Value error, ")
    value = first.get("input")
    shown = "" if isinstance(value, dict) else f", got {value!r}"
    fix = f"fix it in the YAML or override it ({key}=...)" if schema is RunConfig else "fix it in the file"
    return DabenchError(f"{where}: {key}: {message}{shown}; {fix}")
