from __future__ import annotations

import pytest

import app_api
import app_local
from story2video.errors import ConfigurationError
from tests.conftest import small_settings


def test_auto_uses_preview_until_a_real_backend_is_built_and_configured(tmp_path):
    providers = app_api.build_providers(small_settings(tmp_path, dashscope_api_key=""))
    assert {p.backend for p in providers.by_stage().values()} == {"preview"}


def test_auto_prefers_a_registered_backend_that_is_configured(tmp_path):
    registry = app_local.build_registry()
    registry.register("storyboard", "ollama", lambda s: object(), is_configured=lambda s: bool(s.ollama_url))
    settings = small_settings(tmp_path, local_inference=True)
    assert registry.choose("storyboard", settings, app_local.PREFERRED["storyboard"]) == "ollama"
    assert registry.choose("storyboard", small_settings(tmp_path, ollama_url=""), ("ollama",)) == "preview"


def test_explicit_backend_that_is_not_built_fails_with_the_choices(tmp_path):
    settings = small_settings(tmp_path, image_backend="sdwebui")
    with pytest.raises(ConfigurationError) as error:
        app_local.build_providers(settings)
    assert "IMAGE_BACKEND=sdwebui" in error.value.message and "comfyui, diffusers, preview" in error.value.message
