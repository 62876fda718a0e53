"""Hosts of one cluster share OUTPUT_DIR: a process on a folder that is not the share refuses to start."""

from __future__ import annotations

import pytest

from story2video.errors import ConfigurationError
from story2video.storage.db import Database
from story2video.storage.sharedfolder import MARKER_FILE, check_shared_folder


def test_the_first_process_marks_the_folder_and_later_ones_on_it_start(db: Database, tmp_path) -> None:
    shared = tmp_path / "share"
    marker = check_shared_folder(db, shared)
    assert (shared / MARKER_FILE).read_text().strip() == marker
    assert check_shared_folder(db, shared) == marker  # a second host with the share mounted


def test_an_unmounted_share_is_refused_with_what_to_do(db: Database, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr("story2video.storage.sharedfolder.FIRST_START_GRACE_S", 0.2)
    check_shared_folder(db, tmp_path / "share")
    with pytest.raises(ConfigurationError, match="Mount the shared folder"):
        check_shared_folder(db, tmp_path / "empty-mount-point")
    assert not (tmp_path / "empty-mount-point" / MARKER_FILE).exists()  # nothing written there


def test_a_folder_of_another_installation_is_refused(db: Database, tmp_path) -> None:
    folder = tmp_path / "share"
    folder.mkdir()
    (folder / MARKER_FILE).write_text("0123456789abcdef\n")
    with pytest.raises(ConfigurationError, match="another installation"):
        check_shared_folder(db, folder)
    (folder / MARKER_FILE).unlink()  # as the message says, to take the folder over
    assert check_shared_folder(db, folder) == (folder / MARKER_FILE).read_text().strip()
