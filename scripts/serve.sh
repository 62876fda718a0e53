#!/usr/bin/env bash
# Install what the service needs, then start it (SERVICE_PORT, default 12345; Swagger UI at /docs).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh requirements-api.txt
exec .venv/bin/python main_dispatcher.py "$@"
