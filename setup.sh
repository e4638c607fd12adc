#!/usr/bin/env bash
# Installs the proof-of-inference subnet into ./.venv on a Debian/Ubuntu machine.
# Safe to run again: every step checks what is already there.
set -euo pipefail
cd "$(dirname "$0")"

usage() {
  cat <<'USAGE'
Usage: ./setup.sh [options]

Installs what the miner and validator need into ./.venv and derives the
circuits' proving keys (cached under ~/.cache/proof-of-inference/keys, or
$POI_KEY_CACHE). Running it twice is safe and quick.

Options:
  --with-pm2     also install pm2 (npm install -g pm2), which runs the daemons
  --no-system    do not apt-get system packages (python3-venv, python3-dev, gcc)
  --no-keys      skip proving-key derivation (the miner derives them at start)
  --all-keys     also derive the heavy circuits' keys (by default only the light
                 circuits' keys, which the local subnet uses, are derived; a miner
                 serving a heavy circuit derives its key at start)
  --circuits "NAME ..."  derive exactly these circuits' keys (names or ids)
  --python PATH  Python 3.11+ interpreter to build the virtualenv with (default: python3)
  -h, --help     show this help
USAGE
}

with_pm2=0; system=1; keys=1; all_keys=0; circuits=""; python=python3
while [ $# -gt 0 ]; do
  case "$1" in
    --with-pm2) with_pm2=1 ;;
    --no-system) system=0 ;;
    --no-keys) keys=0 ;;
    --all-keys) all_keys=1 ;;
    --circuits)
      [ $# -ge 2 ] || { echo "setup.sh: --circuits needs names (see ./setup.sh --help)" >&2; exit 2; }
      circuits="$2"; shift ;;
    --python)
      [ $# -ge 2 ] || { echo "setup.sh: --python needs a path (see ./setup.sh --help)" >&2; exit 2; }
      python="$2"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "setup.sh: unknown option $1 (see ./setup.sh --help)" >&2; exit 2 ;;
  esac
  shift
done

step() { printf '\n==> %s\n' "$*"; }

need_apt=()
if [ "$system" = 1 ]; then
  command -v "$python" >/dev/null 2>&1 || need_apt+=(python3)
  "$python" -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
  command -v gcc >/dev/null 2>&1 || need_apt+=(gcc python3-dev)
  if [ "$with_pm2" = 1 ] && ! command -v npm >/dev/null 2>&1; then need_apt+=(nodejs npm); fi
  if [ ${#need_apt[@]} -gt 0 ]; then
    step "Installing system packages: ${need_apt[*]}"
    sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -q
    $sudo_cmd apt-get install -y -q "${need_apt[@]}"
  fi
fi

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "setup.sh: $("$python" --version 2>&1) is too old; Python 3.11 or newer is needed (--python PATH)." >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  step "Creating the virtualenv in .venv"
  "$python" -m venv .venv
fi

step "Installing Python packages (pyproject.toml; a few minutes on a fresh machine)"
.venv/bin/python -m pip install -q --upgrade pip
# setuptools warns about every editable install of a project whose packages sit at the top of
# the checkout (that is this project's layout, on purpose); show pip's output only on failure.
if ! pip_log=$(.venv/bin/python -m pip install -q -r requirements.txt 2>&1); then
  printf '%s\n' "$pip_log" >&2
  echo "setup.sh: installing the Python packages failed (output above)" >&2
  exit 1
fi

if [ "$keys" = 1 ]; then
  if [ -n "$circuits" ]; then
    step "Deriving and checking proving keys: $circuits"
    # shellcheck disable=SC2086  # one name per word, on purpose
    .venv/bin/python -m execution_layer.keys --circuits $circuits
  elif [ "$all_keys" = 1 ]; then
    step "Deriving and checking proving keys (every circuit)"
    .venv/bin/python -m execution_layer.keys
  else
    step "Deriving and checking proving keys (light circuits; --all-keys for every one)"
    .venv/bin/python -m execution_layer.keys --skip-heavy
  fi
fi

if [ "$with_pm2" = 1 ]; then
  if command -v pm2 >/dev/null 2>&1; then
    echo "pm2 is already installed: $(command -v pm2)"
  else
    step "Installing pm2"
    node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
    if [ "$node_major" -lt 18 ]; then
      echo "setup.sh: pm2 needs Node.js 18 or newer; this machine has $(node --version 2>/dev/null || echo none)." >&2
      echo "          Install a current Node.js (e.g. from https://nodejs.org or NodeSource), then run again." >&2
      exit 1
    fi
    # npm's global folder is usually root's (/usr/lib/node_modules): sudo when it is not ours.
    if [ -w "$(npm prefix -g)/lib" ] || [ "$(id -u)" = 0 ]; then npm install -g pm2; else sudo npm install -g pm2; fi
  fi
fi

step "Done. Next: .venv/bin/python neurons/localnet.py (a whole subnet on this machine)"
