"""SageMaker hyperparameters as options of `python -m model.train`: the limits, and what they may not set.

A job's hyperparameters reach the container as strings in hyperparameters.json, and the
container passes each as the `model.train` option of the same name (`half_life_days` is
`--half-life-days`). The folders are SageMaker's to choose, not a hyperparameter's: one that set
`--train` would train on other files, and one that set `--model-dir` would write the model where
SageMaker never uploads it, while the job still reports Completed with an empty artefact.
"""

import re
from collections.abc import Collection, Mapping

# CreateTrainingJob's HyperParameters: "Maximum number of 100 items", keys "Maximum length of
# 256", values "Maximum length of 2500" (also in botocore's model, which moto does not enforce).
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateTrainingJob.html#sagemaker-CreateTrainingJob-request-HyperParameters
MAX_HYPERPARAMETERS = 100
MAX_KEY_CHARS = 256
MAX_VALUE_CHARS = 2500

# The training run's options that name a folder (tests/model/test_container.py holds the two in step).
PATH_OPTIONS = ("--train", "--model-dir")
# The SageMaker SDK's own keys (sagemaker_program, ...): the container leaves them out.
SDK_PREFIX = "sagemaker_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


class HyperparameterError(ValueError):
    """A hyperparameter the job must not be given; the message names it and says why."""


def option_for(name: str) -> str:
    """The `model.train` option a hyperparameter sets; HyperparameterError for a path option."""
    if not _NAME.match(name):
        raise HyperparameterError(
            f"hyperparameter {name!r} is not an option name (letters, digits, '_' and '-')"
        )
    option = "--" + name.replace("_", "-")
    if option in PATH_OPTIONS:
        raise HyperparameterError(
            f"hyperparameter {name!r} would set {option}, a folder SageMaker chooses "
            "(/opt/ml/input/data/train, /opt/ml/model)"
        )
    return option


def check_hyperparameters(hyperparameters: Mapping[str, str], options: Collection[str]) -> None:
    """HyperparameterError unless SageMaker takes them and each names one of `options` exactly."""
    if len(hyperparameters) > MAX_HYPERPARAMETERS:
        raise HyperparameterError(
            f"{len(hyperparameters)} hyperparameters: SageMaker takes at most {MAX_HYPERPARAMETERS}"
        )
    for name, value in hyperparameters.items():
        if len(name) > MAX_KEY_CHARS:
            raise HyperparameterError(
                f"hyperparameter {name[:20]!r}... has {len(name)} characters: SageMaker takes "
                f"at most {MAX_KEY_CHARS} in a name"
            )
        if len(value) > MAX_VALUE_CHARS:
            raise HyperparameterError(
                f"hyperparameter {name!r} has a value of {len(value)} characters: SageMaker "
                f"takes at most {MAX_VALUE_CHARS}"
            )
        if name.startswith(SDK_PREFIX):
            continue
        option = option_for(name)
        if option not in options:
            # An image built before abbreviations were turned off would read `--tra` as --train.
            raise HyperparameterError(
                f"hyperparameter {name!r}: python -m model.train has no option {option} "
                "(options are matched whole, never abbreviated)"
            )
