#!/usr/bin/env bash
# Creates .venv (if missing) and installs the given requirements file into it.
# FFmpeg: the system one is used when it has what we need; otherwise the imageio-ffmpeg binary
# installed from PyPI by requirements-api.txt (see story2video/media/ffmpeg.py).
set -euo pipefail
cd "$(dirname "$0")/.."
requirements="${1:?usage: bootstrap.sh REQUIREMENTS_FILE}"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$requirements"
