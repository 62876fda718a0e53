#!/usr/bin/env bash
# Creates .venv (if missing) and installs the given requirements file into it, showing pip's progress.
# Runs pip only when the venv is new or the requirements changed: a stamp in .venv records a hash of
# the file, of every file it includes with -r, and of the Python version. Delete .venv/.installed-*
# to force a reinstall.
# FFmpeg: the system one is used when it has what we need; otherwise the imageio-ffmpeg binary
# installed from PyPI by requirements-api.txt (see story2video/media/ffmpeg.py).
set -euo pipefail
cd "$(dirname "$0")/.."
requirements="${1:?usage: bootstrap.sh REQUIREMENTS_FILE}"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "creating .venv with $("$python" --version 2>&1)..."
    "$python" -m venv .venv
fi

fingerprint() {
    .venv/bin/python - "$requirements" <<'EOF'
import hashlib, re, sys
from pathlib import Path

digest = hashlib.sha256(sys.version.encode())
seen = set()

def add(path):
    path = path.resolve()
    if path in seen:
        return
    seen.add(path)
    text = path.read_bytes()
    digest.update(path.name.encode() + b"\0" + text + b"\0")
    for line in text.decode("utf-8", "replace").splitlines():
        included = re.match(r"\s*(?:-r|--requirement)(?:\s+|=)(\S+)", line)
        if included:
            add(path.parent / included.group(1))

add(Path(sys.argv[1]))
print(digest.hexdigest())
EOF
}

stamp=".venv/.installed-$(basename "$requirements").sha256"
wanted="$(fingerprint)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
    exit 0  # installed, and nothing changed since
fi
echo "installing $requirements into .venv (a first install downloads every package: a few minutes, more with torch)..."
.venv/bin/python -m pip install --disable-pip-version-check -r "$requirements"
echo "$wanted" > "$stamp"
echo "installed $requirements"
