# Shared by scripts/serve and scripts/test: create .venv when missing and install the project into
# it from the lock (scripts/requirements*.lock: every package pinned, with hashes), so a release of
# any dependency never changes a fresh machine's environment. Sourced, not run. Reinstalls only when
# the lock or pyproject.toml changed, so repeat runs are fast. scripts/lock renews the locks.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3}"

ensure_env() {
    local extras="$1"
    if [ ! -x "$VENV/bin/python" ]; then
        "$PY" -m venv "$VENV"
        "$VENV/bin/python" -m pip install --quiet --upgrade pip
    fi
    local lock="$ROOT/scripts/requirements${extras:+-$extras}.lock"
    local stamp="$VENV/.installed-${extras:-base}"
    if [ ! -f "$stamp" ] || [ "$lock" -nt "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
        "$VENV/bin/python" -m pip install --quiet --require-hashes -r "$lock"
        "$VENV/bin/python" -m pip install --quiet --no-deps -e "$ROOT"
        touch "$stamp"
    fi
}
