"""One test session per supported (Python, Django) pair: `nox -l` lists them.

`make test` runs the full suite (SQLite and PostgreSQL, with Redis) in `.venv`, the main pair,
and then the SQLite suite here on every other pair (`nox -t other-pairs`), the app's Redis
tests with redis-py 8 (`nox -s redis8`), and tests/oscar in an Oscar shop on the pairs
django-oscar supports (`nox -t oscar`). Interpreters come from PATH or pyenv; none is downloaded.
"""

import sys

import django
import nox

# Django 6.0 and 6.1 need Python 3.12 or newer.
PAIRS = [
    ("3.11", "5.2"),
    ("3.12", "5.2"),
    ("3.13", "5.2"),
    ("3.12", "6.0"),
    ("3.13", "6.0"),
    ("3.12", "6.1"),
    ("3.13", "6.1"),
]
# The whole SQLite suite runs on the newest Django of each other Python. The other pairs leave out
# the tests that start real servers or browsers (integration, browser) and the cloud half's
# tools (cloud), which do not depend on Django: they exercise the same code as the unit tests on
# that pair, at twice their cost (docs/testing.md).
FULL_PAIRS = {("3.12", "6.1"), ("3.13", "6.1")}
LEFT_OUT_ON_OTHER_PAIRS = "not cloud and not integration and not browser"
TEST_RUNS = (["tests/app"], ["tests/model", "tests/demo", "tests/repo"])
# The pairs of the Oscar session: django-oscar 4.2 supports Django up to 6.1, one pair per Python.
OSCAR_PAIRS = [("3.11", "5.2"), ("3.12", "6.0"), ("3.13", "6.1")]
# Just what tests/oscar runs with, besides the wheel's [oscar] extra: not requirements.txt.
OSCAR_TEST_TOOLS = ["pytest>=8.2,<10", "pytest-django>=4.9,<5", "pytest-timeout>=2.3,<3"]
# The pair of the virtualenv nox runs from (.venv): `make test` has run the full suite there.
MAIN_PAIR = (
    f"{sys.version_info[0]}.{sys.version_info[1]}",
    f"{django.VERSION[0]}.{django.VERSION[1]}",
)

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.download_python = "never"
nox.options.error_on_missing_interpreters = True
nox.options.reuse_venv = "yes"


@nox.session
@nox.parametrize(
    ("python", "django"),
    [
        nox.param(
            python,
            version,
            id=f"{python}-django{version}",
            tags=["main-pair" if (python, version) == MAIN_PAIR else "other-pairs"],
        )
        for python, version in PAIRS
    ],
)
def tests(session: nox.Session, django: str) -> None:
    """The SQLite suite on one pair, in two pytest runs (arguments after -- go to both)."""
    session.install("-r", "requirements.txt", f"Django=={django}.*")
    arguments = list(session.posargs)
    if (session.python, django) not in FULL_PAIRS:
        if "-m" in arguments:
            at = arguments.index("-m") + 1
            arguments[at] = f"({arguments[at]}) and {LEFT_OUT_ON_OTHER_PAIRS}"
        else:
            arguments += ["-m", LEFT_OUT_ON_OTHER_PAIRS]
    # The app's tests on its minimal settings, then the rest on the demo shop's (tests/conftest.py).
    for folders in TEST_RUNS:
        session.run("python", "-m", "pytest", "-p", "no:cacheprovider", *arguments, *folders)


# redis-py 8, which the app supports and a shop may have (django-redis 7 and celery[redis] accept
# it), against a real Redis. The other passes run requirements.txt's redis-py 6, which the [redis]
# extra and docs/installation.md advise for its cheaper cache reads.
REDIS_8 = "redis>=8,<9"


@nox.session(python=MAIN_PAIR[0], tags=["redis8"])
def redis8(session: nox.Session) -> None:
    """The app's Redis tests (tests/app, marked redis) with redis-py 8 and django-redis 7."""
    session.install("-r", "requirements.txt", f"Django=={MAIN_PAIR[1]}.*")
    # Over the requirements' redis<7: that is the advice, not a limit of the app.
    session.install(REDIS_8, "django-redis>=7,<8")
    session.run(
        "python", "-c", "import redis; assert redis.__version__.startswith('8.'), redis.__version__"
    )
    session.run(
        "python",
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-m",
        "redis",
        *session.posargs,
        "tests/app",
    )


@nox.session(tags=["oscar"])
@nox.parametrize(
    ("python", "django"),
    [nox.param(python, version, id=f"{python}-django{version}") for python, version in OSCAR_PAIRS],
)
def oscar(session: nox.Session, django: str) -> None:
    """tests/oscar in an Oscar shop: the app with its [oscar] extra and the test tools only."""
    session.install(".[oscar]", *OSCAR_TEST_TOOLS, f"Django=={django}.*")
    session.run("python", "-m", "pytest", "-p", "no:cacheprovider", *session.posargs, "tests/oscar")
