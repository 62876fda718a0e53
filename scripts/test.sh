#!/usr/bin/env bash
# Install what the tests need, then run the whole suite (extra arguments go to pytest).
# Beyond Python packages the tests use Debian's chromium (browser tests), redis-server and postgresql
# (the scale-out tests start their own servers) and iproute2 (hosts in network namespaces). As root with
# apt-get the missing ones are installed; otherwise the tests that need them are skipped with a message.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh requirements-dev.txt
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v redis-server >/dev/null || missing+=(redis-server)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
command -v ip >/dev/null || missing+=(iproute2)
if [ "${#missing[@]}" -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian's ${missing[*]} for the tests..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
exec .venv/bin/python -m pytest "$@"
