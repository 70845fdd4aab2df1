"""The command-line options of the choice, shared by model.train, model.evaluate and model.release.

Hyperparameters arrive as options (SageMaker passes them so): `--model`, a comma list for a grid
of ALS's factors and L2 weight, EASE's lambda, DLAE's lambda and dropout or RP3beta's alpha and
beta, one value for the rest, the folds, the fit
budget and the search's minutes. What is left unset is searched (candidates.py).
"""

import argparse
from dataclasses import fields

from .als import TrainingParams
from .candidates import DEFAULT_FIT_BUDGET, DEFAULT_SEARCH_SECONDS, KINDS, MODELS, SearchGrid
from .dlae import DlaeParams
from .ease import EaseParams
from .rp3beta import Rp3BetaParams
from .validation import DEFAULT_FOLDS


def add_param_arguments(parser: argparse.ArgumentParser) -> None:
    """Options for the choice: --model, comma lists for grids, one value for the rest."""
    parser.add_argument(
        "--model",
        type=_model_list,
        default="auto",
        help=f"auto ({', '.join(MODELS)}), or one or a comma-separated list of {', '.join(KINDS)}",
    )
    for f in fields(TrainingParams):
        option = f"--{f.name.replace('_', '-')}"
        if f.name in ("factors", "regularization"):
            parser.add_argument(
                option,
                type=_list_of(type(f.default)),
                default=None,
                help=f"ALS; a comma-separated list is a grid (default: searched from {f.default})",
            )
        else:
            parser.add_argument(option, type=type(f.default), default=f.default)
    parser.add_argument(
        "--ease-lambda",
        type=_list_of(float),
        default=None,
        help="EASE's L2 weight; a comma-separated list is a grid (default: searched from "
        f"{EaseParams.regularization:g})",
    )
    for kind, name, field_name, params in (
        ("DLAE", "--dlae-lambda", "regularization", DlaeParams),
        ("DLAE", "--dlae-dropout", "dropout", DlaeParams),
        ("RP3beta", "--rp3beta-alpha", "alpha", Rp3BetaParams),
        ("RP3beta", "--rp3beta-beta", "beta", Rp3BetaParams),
    ):
        parser.add_argument(
            name,
            type=_list_of(float),
            default=None,
            help=f"{kind}'s {name.rsplit('-', 1)[1]}; a comma-separated list is a grid (default: "
            f"searched from {getattr(params, field_name):g})",
        )
    parser.add_argument(
        "--max-memory-mb",
        type=float,
        default=EaseParams.max_memory_mb,
        help="EASE refuses catalogues whose items x items matrix needs more",
    )
    parser.add_argument(
        "--threads", type=int, default=0, help="BLAS threads for EASE (0: all cores)"
    )
    parser.add_argument(
        "--folds",
        type=int,
        default=DEFAULT_FOLDS,
        help="validation folds: each user's newest orders within the training part, one per fold",
    )
    parser.add_argument(
        "--fit-budget",
        type=int,
        default=DEFAULT_FIT_BUDGET,
        help="fits the choice may spend over all candidates and folds",
    )
    parser.add_argument(
        "--search-minutes",
        type=float,
        default=DEFAULT_SEARCH_SECONDS / 60,
        help="minutes the search may spend: no round is started that would end past them "
        "(each searched kind's first point is always tried)",
    )


def params_from_arguments(arguments: argparse.Namespace) -> SearchGrid:
    """The SearchGrid the options `add_param_arguments` added describe."""
    single = {
        f.name: getattr(arguments, f.name)
        for f in fields(TrainingParams)
        if f.name not in ("factors", "regularization")
    }
    factors, regularization = arguments.factors, arguments.regularization
    als = TrainingParams(
        factors=factors[0] if factors else TrainingParams.factors,
        regularization=regularization[0] if regularization else TrainingParams.regularization,
        **single,
    )
    lambdas = arguments.ease_lambda
    ease = EaseParams(
        regularization=lambdas[0] if lambdas else EaseParams.regularization,
        max_memory_mb=arguments.max_memory_mb,
        threads=arguments.threads,
        half_life_days=arguments.half_life_days,
    )
    models = MODELS if arguments.model == "auto" else arguments.model
    item_item = {
        "max_memory_mb": arguments.max_memory_mb,
        "half_life_days": arguments.half_life_days,
    }
    return SearchGrid(
        models,
        als,
        factors,
        regularization,
        ease,
        lambdas,
        dlae=DlaeParams(threads=arguments.threads, **item_item),
        dlae_regularization=arguments.dlae_lambda,
        dlae_dropout=arguments.dlae_dropout,
        rp3beta=Rp3BetaParams(**item_item),
        rp3beta_alpha=arguments.rp3beta_alpha,
        rp3beta_beta=arguments.rp3beta_beta,
        folds=arguments.folds,
        fit_budget=arguments.fit_budget,
        search_seconds=arguments.search_minutes * 60,
    )


def _model_list(text: str) -> "str | tuple[str, ...]":
    if text == "auto":
        return text
    models = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [model for model in models if model not in KINDS]
    if unknown or not models:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected auto or kinds among {', '.join(KINDS)}"
        )
    return models


def _list_of(kind: type) -> "type | object":
    def parse(text: str) -> tuple:
        try:
            values = tuple(kind(part) for part in str(text).split(",") if part.strip())
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from error
        if not values:
            raise argparse.ArgumentTypeError("expected one value or a comma-separated list")
        return values

    parse.__name__ = f"list of {kind.__name__}"
    return parse
