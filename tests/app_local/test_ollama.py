from __future__ import annotations

import asyncio
import json
import socket

import pytest

from app_local.ollama import OllamaPromptRefiner, OllamaStoryboardWriter
from story2video.errors import BackendError, BackendTimeout, BackendUnavailable
from story2video.providers.base import StageContext, StoryboardRequest
from tests.conftest import small_settings
from tests.fakes.ollama import FakeOllama

REQUEST = StoryboardRequest(script="清晨，她推开窗。河上漂着纸船。夜里她听见海浪。", style="写实", min_shots=2, max_shots=4)


def storyboard(count: int) -> str:
    shots = [
        {"subject": f"镜头{n}", "detail": f"写实风格，画面{n}", "camera": "中景，缓慢推近", "narration": f"旁白{n}", "tone": "平静"}
        for n in range(count)
    ]
    return json.dumps({"shots": shots}, ensure_ascii=False)


@pytest.fixture
def fake(httpserver):
    return FakeOllama(httpserver)


def writer(tmp_path, url: str, **overrides) -> OllamaStoryboardWriter:
    return OllamaStoryboardWriter(small_settings(tmp_path, ollama_url=url, **overrides))


def write(w: OllamaStoryboardWriter, request=REQUEST):
    return asyncio.run(w.write(request, StageContext())).shots


def test_writes_a_storyboard_with_schema_format_and_settings(tmp_path, fake):
    fake.reply_with(storyboard(3))
    drafts = write(writer(tmp_path, fake.url, ollama_temperature=0.3, ollama_num_ctx=4096, ollama_keep_alive="5m"))
    assert [d.subject for d in drafts] == ["镜头0", "镜头1", "镜头2"]
    chat = fake.chats[0]
    assert chat["model"] == "qwen2.5:7b" and chat["stream"] is False and chat["keep_alive"] == "5m"
    assert chat["options"] == {"temperature": 0.3, "num_ctx": 4096}
    assert set(chat["format"]["$defs"]["ShotReply"]["required"]) == {"subject", "detail", "camera", "narration", "tone"}
    assert "写实" in chat["messages"][-1]["content"]


def test_broken_json_and_wrong_count_are_reasked(tmp_path, fake):
    fake.reply_with('{"shots": [', storyboard(9), storyboard(2))
    drafts = write(writer(tmp_path, fake.url))
    assert len(drafts) == 2 and len(fake.chats) == 3
    assert "not valid JSON" in fake.chats[1]["messages"][-1]["content"]
    assert "9 shots" in fake.chats[2]["messages"][-1]["content"]


def test_gives_up_with_the_raw_reply_after_bounded_attempts(tmp_path, fake):
    fake.reply_with("I cannot do that", "still no", "nope")
    with pytest.raises(BackendError) as failed:
        write(writer(tmp_path, fake.url, storyboard_attempts=3))
    assert "3 attempts" in failed.value.message and "nope" in failed.value.message


def test_missing_model_says_which_to_pull(tmp_path, fake):
    with pytest.raises(BackendUnavailable) as failed:
        write(writer(tmp_path, fake.url, ollama_model="llama3.1:8b"))
    assert "ollama pull llama3.1:8b" in failed.value.message


def test_connection_refused_names_the_url(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    w = writer(tmp_path, url)
    with pytest.raises(BackendUnavailable) as failed:
        write(w)
    assert url in failed.value.message
    status = asyncio.run(w.status())
    assert status.ready is False and status.location == url


def test_status_reports_model_availability(tmp_path, fake):
    assert asyncio.run(writer(tmp_path, fake.url).status()).ready is True
    missing = asyncio.run(writer(tmp_path, fake.url, ollama_model="mistral").status())
    assert missing.ready is False and "ollama pull mistral" in missing.detail


def test_refiner_turns_a_detail_into_a_clean_english_prompt(tmp_path, fake):
    fake.reply_plainly_with('  "A girl opens a wooden window at dawn,\n mist over distant hills, watercolor"  ')
    refiner = OllamaPromptRefiner(small_settings(tmp_path, ollama_url=fake.url, prompt_refiner_model="qwen2.5:7b"))
    prompt = asyncio.run(refiner.refine("清晨，少女推开木窗，远山薄雾", "水彩", StageContext()))
    assert prompt == "A girl opens a wooden window at dawn, mist over distant hills, watercolor"
    chat = fake.chats[0]
    assert "format" not in chat or chat["format"] is None
    assert "清晨，少女推开木窗" in chat["messages"][-1]["content"] and "水彩" in chat["messages"][-1]["content"]


def test_refiner_refuses_an_empty_prompt(tmp_path, fake):
    fake.reply_plainly_with('  ""  ')
    refiner = OllamaPromptRefiner(small_settings(tmp_path, ollama_url=fake.url))
    with pytest.raises(BackendError) as failed:
        asyncio.run(refiner.refine("细节", "写实", StageContext()))
    assert "empty prompt" in failed.value.message


def test_a_wrong_url_404_is_not_read_as_a_missing_model(tmp_path, fake):
    with pytest.raises(BackendUnavailable) as failed:
        write(writer(tmp_path, f"{fake.url}/v1"))  # e.g. the OpenAI-compatible base given as OLLAMA_URL
    message = failed.value.message
    assert "404" in message and "not to be an Ollama server" in message and "404 page not found" in message
    assert "ollama pull" not in message


def test_the_real_missing_model_404_still_says_which_to_pull(tmp_path, fake):
    fake.models = ("llama3.1:8b",)  # the 404 carries Ollama's JSON {"error": "model 'qwen2.5:7b' not found"}
    with pytest.raises(BackendUnavailable) as failed:
        write(writer(tmp_path, fake.url))
    assert "does not have the model 'qwen2.5:7b'" in failed.value.message


def test_an_unanswered_connection_fails_after_the_connect_timeout(tmp_path):
    """A listener whose accept queue is full drops new SYNs: connecting hangs, as to a host that is down."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        waiting = [socket.socket() for _ in range(4)]
        for sock in waiting:
            sock.setblocking(False)
            sock.connect_ex(listener.getsockname())
        try:
            w = writer(tmp_path, url, ollama_connect_timeout_s=0.3, ollama_timeout_s=300)
            with pytest.raises(BackendUnavailable) as failed:
                write(w)
        finally:
            for sock in waiting:
                sock.close()
    assert "within 0.3 s (OLLAMA_CONNECT_TIMEOUT_S)" in failed.value.message and url in failed.value.message


def test_a_slow_reply_is_a_timeout_naming_the_read_setting(tmp_path, fake):
    fake.delay_s = 1.0
    with pytest.raises(BackendTimeout) as failed:
        write(writer(tmp_path, fake.url, ollama_timeout_s=0.2, ollama_connect_timeout_s=5))
    assert "OLLAMA_TIMEOUT_S" in failed.value.message


def test_a_connection_broken_mid_reply_is_a_clear_error(tmp_path, fake):
    fake.cut_off = True
    with pytest.raises(BackendError) as failed:
        write(writer(tmp_path, fake.url))
    assert not isinstance(failed.value, (BackendUnavailable, BackendTimeout))
    assert "connection to Ollama" in failed.value.message and "RemoteProtocolError" in failed.value.message
