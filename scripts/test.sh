#!/usr/bin/env bash
# Install what the tests need, then run the whole suite (extra arguments go to pytest).
# The browser tests drive Debian's Chromium; as root it is installed with apt when missing,
# otherwise those tests are skipped with a message saying so.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh requirements-dev.txt
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian's chromium for the browser tests..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
exec .venv/bin/python -m pytest "$@"
