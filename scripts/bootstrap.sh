#!/usr/bin/env bash
# Install what peakline needs on a fresh Debian/Ubuntu machine, idempotently:
#   --runtime  packages the demo uses (it embeds a broker and a store): a CJK font, so the
#              dashboard's Simplified Chinese renders in a browser on this machine
#   --test     servers and clients the tests start: mosquitto, influxd, PostgreSQL, nginx (the
#              scale-out test's proxy), mbpoll, socat, chromium, and the CJK font the zh-CN
#              browser tests' screenshots need
# then a virtual environment (.venv) with the locked Python packages (uv.lock).
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:---runtime}"
debs=()
case "$mode" in
  --test) debs=(mosquitto influxdb postgresql nginx-light mbpoll socat chromium fonts-noto-cjk openssl ca-certificates) ;;
  --runtime) debs=(fonts-noto-cjk openssl ca-certificates) ;;
esac

missing=()
for pkg in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then missing+=(python3-venv); fi
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ]; then
    echo "bootstrap: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # Never start the packaged services: tests run their own instances on free ports.
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; trap 'rm -f "$policy"' EXIT; fi
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "bootstrap: missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
    [ "$mode" = --test ] && exit 1
  fi
fi

python3 - <<'PY' || { echo "bootstrap: peakline needs Python 3.11 or newer" >&2; exit 1; }
import sys
sys.exit(0 if sys.version_info >= (3, 11) else 1)
PY

# uv installs the locked environment; fetch it into a private tool venv when it is not on PATH.
if command -v uv >/dev/null 2>&1; then
  uv=uv
else
  if [ ! -x .tools/bin/uv ]; then
    echo "bootstrap: installing uv into .tools/"
    python3 -m venv .tools
    .tools/bin/pip install -q uv
  fi
  uv=.tools/bin/uv
fi
export UV_PYTHON_DOWNLOADS=never
"$uv" sync --frozen --all-packages --python "$(command -v python3)" -q
