# The verbs a newcomer needs. Everything runs from .venv, which the first target creates.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test test-sqlite test-postgres test-image test-pairs test-redis8 test-oscar lint fmt docs bench browser-deps image-deps seed model retrain clean deploy

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

fmt: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Debian's chromium for the browser tests (Playwright drives it; no browser download).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "WARNING: could not install chromium; browser tests will skip (fail under CI=true)"; }

# Debian's buildah and mmdebstrap for tests/model/test_container_image.py, which builds model/Dockerfile
# on a base image made from Debian's packages (no Docker daemon, no image registry here).
image-deps:
	@command -v buildah >/dev/null 2>&1 && command -v mmdebstrap >/dev/null 2>&1 || { \
	  echo "Installing Debian's buildah and mmdebstrap for the image test"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq buildah mmdebstrap >/dev/null) \
	  || echo "WARNING: could not install buildah and mmdebstrap; the image test will skip (fail under CI=true)"; }

# The suite runs in parallel, one pytest-xdist worker per core (at most 4), a test file to a
# worker so that a file's Celery worker and servers start once; PARALLEL= runs it in one process.
PARALLEL ?= -n auto --maxprocesses 4 --dist loadfile
# Two pytest runs: the app's tests on its minimal settings (tests/app/settings.py), the rest on
# the demo shop's (tests/settings.py); Django is set up once per process.
APP_TESTS := tests/app
SHOP_TESTS := tests/model tests/demo tests/repo

test-sqlite: install
	$(BIN)/pytest $(PARALLEL) $(APP_TESTS)
	$(BIN)/pytest $(PARALLEL) $(SHOP_TESTS)

test-postgres: install
	TEST_DB=postgres $(BIN)/pytest $(PARALLEL) -m "not image" $(APP_TESTS)
	TEST_DB=postgres $(BIN)/pytest $(PARALLEL) -m "not image" $(SHOP_TESTS)

# The container image built from model/Dockerfile and run (train, serve), in the foreground so
# that the build, the training and the answers are in the log.
test-image: install image-deps
	$(BIN)/pytest -m image -s -rA -p no:cacheprovider tests/model/test_container_image.py

# The documentation as HTML in docs/_build/html; a warning fails the build.
docs: install
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

# The SQLite suite on every other supported (Python, Django) pair (noxfile.py). pyenv's
# interpreters are found only while their versions are active, hence PYENV_VERSION.
test-pairs: install
	PYENV_VERSION=$$(pyenv versions --bare 2>/dev/null | grep -E '^3\.1[1-3]\.[0-9]+$$' | paste -sd: -) \
	  $(BIN)/nox --non-interactive -t other-pairs -- -m "not packaging and not image" $(PARALLEL)

# The app's Redis tests with redis-py 8 and django-redis 7 against the local Redis (noxfile.py,
# redis8): the passes above run requirements.txt's redis-py 6, the one the docs advise.
test-redis8: install
	$(BIN)/nox --non-interactive -s redis8

# tests/oscar in an Oscar shop (recommendations.contrib.oscar against the real django-oscar), on
# each pair django-oscar supports (noxfile.py's OSCAR_PAIRS), in virtualenvs with the [oscar] extra.
test-oscar: install
	PYENV_VERSION=$$(pyenv versions --bare 2>/dev/null | grep -E '^3\.1[1-3]\.[0-9]+$$' | paste -sd: -) \
	  $(BIN)/nox --non-interactive -t oscar

# The full suite with the real services (PostgreSQL, Redis, Celery, chromium) on the main pair,
# the SQLite suite on every other pair. The PostgreSQL pass runs every test the SQLite pass does.
test: lint docs browser-deps test-image test-postgres test-pairs test-redis8 test-oscar

seed: .env install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo --if-empty
	$(BIN)/python manage.py recommendations_refresh_fallback

# The demo's settings come from .env (made from .env.example the first time): it points the app
# at the local SageMaker-compatible endpoint with demo keys.
.env:
	cp .env.example .env

demo: .env install seed model
	mkdir -p .var/broker/queue .var/broker/processed .var/cache
	$(BIN)/python manage.py collectstatic --noinput >/dev/null
	@echo
	@echo "  Demo shop:  http://127.0.0.1:8000   (log in as customer1 ... with password demo-shop)"
	@echo "  Admin:      http://127.0.0.1:8000/admin/ (user admin, password demo-shop)"
	@echo "  Ctrl-C stops the shop, the Celery worker and beat, and the model endpoint."
	@echo
	$(BIN)/honcho start -f Procfile

# Train the demo's model from the shop's export, once. Nothing else writes orders before the demo
# starts, so no order needs time to settle: the first export takes everything.
model: install seed
	@test -f .var/models/current/model.json || \
	  $(MAKE) --no-print-directory retrain EXPORT_FLAGS="--settle-seconds 0"

# The loop, also on a running demo: export what is new into .var/training (the folder the trainer
# reads whole), train a new version into .var/models/<version>, switch .var/models/current to it;
# the endpoint swaps to it between requests, and waits here until it serves it.
retrain: install
	$(BIN)/python manage.py recommendations_export --to .var/training $(EXPORT_FLAGS)
	$(BIN)/python -m model.release --train .var/training --models-dir .var/models \
	  --wait-for http://127.0.0.1:8080/ping

# The cloud loop, once, on real AWS (never run by `make test`; docs/deploy.md): export what is new
# to S3, train it as a SageMaker training job on all but the newest GATE_DAYS, register it in the
# Model Registry, let the gate (model.promote) judge it against the live model and the fallback
# on those days, and only if it passes swap it in with a canary that SageMaker rolls back if the
# 5xx or p99-latency alarm fires. A candidate that loses stops here with exit status 0: the gate
# did its job. AWS credentials, region and endpoints come from boto3's chain (AWS_PROFILE, ...).
#   make deploy BUCKET=shop-ml ROLE=arn:aws:iam::...:role/... IMAGE=....dkr.ecr....:tag ENDPOINT=shop-recommender
TRAINING_PREFIX ?= training
MODELS_PREFIX ?= models
CANARY_PERCENT ?= 10
GATE_DAYS ?= 7
GATE_MARGIN ?= 0
deploy: install
	@test -n "$(BUCKET)" || { echo "make deploy: set BUCKET=<the S3 bucket for the export and the models>" >&2; exit 2; }
	@test -n "$(ROLE)" || { echo "make deploy: set ROLE=<ARN of the SageMaker execution role, see model/iam/>" >&2; exit 2; }
	@test -n "$(IMAGE)" || { echo "make deploy: set IMAGE=<ECR URI of the model image, see model/Dockerfile>" >&2; exit 2; }
	@test -n "$(ENDPOINT)" || { echo "make deploy: set ENDPOINT=<the endpoint name, the app's ENDPOINT_NAME>" >&2; exit 2; }
	$(BIN)/python manage.py recommendations_export --to s3://$(BUCKET)/$(TRAINING_PREFIX)
	artefact=$$($(BIN)/python -m model.train_job --train s3://$(BUCKET)/$(TRAINING_PREFIX) \
	    --output s3://$(BUCKET)/$(MODELS_PREFIX) --image "$(IMAGE)" --role "$(ROLE)" \
	    --hyperparameter hold-out-days=$(GATE_DAYS) $(TRAIN_FLAGS)) || exit 1; \
	package=$$($(BIN)/python -m model.register --endpoint-name "$(ENDPOINT)" --image "$(IMAGE)" \
	    --model-data "$$artefact") || exit 1; \
	$(BIN)/python -m model.promote --data s3://$(BUCKET)/$(TRAINING_PREFIX) \
	    --model-package "$$package" --live-endpoint "$(ENDPOINT)" \
	    --period-days $(GATE_DAYS) --margin $(GATE_MARGIN); gate=$$?; \
	if [ $$gate -eq 3 ]; then echo "make deploy: stopped at the gate, nothing deployed:" \
	    "the candidate did not beat the live model and the fallback ($$package is Rejected)"; \
	    exit 0; fi; \
	test $$gate -eq 0 || exit $$gate; \
	$(BIN)/python -m model.deploy --mode replace --create-if-missing --endpoint-name "$(ENDPOINT)" \
	    --role "$(ROLE)" --model-package "$$package" \
	    --traffic canary --traffic-percent $(CANARY_PERCENT) --small-fleet all-at-once \
	    --create-alarms $(if $(METRICS_NAMESPACE),--metrics-namespace "$(METRICS_NAMESPACE)") \
	    $(if $(ALARM_TOPIC_ARN),--alarm-topic-arn "$(ALARM_TOPIC_ARN)") $(DEPLOY_FLAGS)

# Every bench runs, even after one misses its target; the exit status says whether all passed.
bench: install
	@failed=""; for script in bench/*.py; do echo "== $$script"; \
	  $(BIN)/python $$script || failed="$$failed $$script"; done; \
	if [ -n "$$failed" ]; then echo "Benches that missed a target or failed:$$failed"; exit 1; fi

clean:
	rm -rf .var db.sqlite3 docs/_build
