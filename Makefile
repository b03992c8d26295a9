# Two entry points for a fresh machine with only Python 3.11+ and make:
#   make demo   - set up .venv and capture a failing pipeline step
#   make test   - set up .venv (and OpenSSH's server for the SSH tests), lint, and run every test
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench setup sshd clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

# The SSH tests need a real sshd (and sshfs, for a real network mount); install them
# when they are missing and we may.
sshd:
	@{ test -x /usr/sbin/sshd && command -v sshfs >/dev/null; } || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server openssh-client sshfs >/dev/null) \
	      || echo "note: could not install openssh-server/sshfs: the tests that need them will say so"; \
	  else \
	    echo "note: /usr/sbin/sshd missing and not root: SSH tests will be skipped"; \
	  fi; }

demo: $(STAMP)
	$(BIN)/python demo/run_demo.py

test: $(STAMP) sshd
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .replay demo/work
