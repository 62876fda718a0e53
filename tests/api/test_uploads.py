"""Uploads through the API: a user's picture becomes a shot's keyframe, a user's audio the music;
bad files are refused with nothing written; one user never sees another's uploads."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests import mediacheck
from tests.conftest import create_body
from tests.uploads.media import cut_off_png, jpeg_cut_mid_scan, picture, progressive_jpeg_missing_scans, tone_wav, wav_claiming

UPLOADS = "/api/v1/uploads"
RED = (220, 20, 20)


def upload(client, data: bytes, user_id: str = "u-001", media_type: str = "application/octet-stream", **params):
    return client.post(UPLOADS, content=data, params={"user_id": user_id, **params}, headers={"Content-Type": media_type})


def uploaded(client, data: bytes, **kwargs) -> dict:
    response = upload(client, data, **kwargs)
    assert response.status_code == 201, response.text
    return response.json()


def download(client, url: str) -> bytes:
    response = client.get(url)
    assert response.status_code == 200, (url, response.text)
    return response.content


def stored_files(client) -> list:
    root = client.app.state.settings.artifacts_dir
    return sorted(path.name for path in root.rglob("*") if path.is_file())


def upload_count(client) -> int:
    return client.app.state.engine.deps.stories.db.fetch_one("SELECT COUNT(*) AS n FROM uploads")["n"]


@pytest.fixture
def story(client):
    created = client.post("/api/v1/storyboard/create", json=create_body(shot_count=2))
    assert created.status_code == 200, created.text
    return client


def test_an_uploaded_picture_is_stored_as_a_png_and_described(client):
    body = uploaded(client, picture("JPEG", (640, 360), RED), filename="red.jpg", media_type="image/jpeg")
    assert body["upload_id"].startswith("up_")
    assert (body["kind"], body["format"], body["width"], body["height"]) == ("image", "jpeg", 640, 360)
    assert (body["source"], body["filename"], body["user_id"]) == ("upload", "red.jpg", "u-001")
    with Image.open(io.BytesIO(download(client, body["url"]))) as stored:
        assert (stored.format, stored.size) == ("PNG", (640, 360))
    listed = client.get(UPLOADS, params={"user_id": "u-001"}).json()
    assert [item["upload_id"] for item in listed] == [body["upload_id"]]
    assert client.get(f"{UPLOADS}/{body['upload_id']}", params={"user_id": "u-001"}).json() == body


def test_the_same_file_twice_is_stored_once(client):
    data = picture("PNG", (100, 100))
    first, second = uploaded(client, data), uploaded(client, data)
    assert first["upload_id"] != second["upload_id"] and first["url"] == second["url"]


def test_a_shot_takes_the_uploaded_picture_as_its_keyframe_and_the_video_shows_it(story):
    client = story
    picture_id = uploaded(client, picture("JPEG", (400, 400), RED))["upload_id"]
    regenerated = client.post(
        "/api/v1/shot/regenerate",
        json={"operation_id": "op-up", "story_id": "story-001", "shot_id": "shot_01", "user_id": "u-001", "image_upload_id": picture_id},
    )
    assert regenerated.status_code == 200, regenerated.text
    shot = regenerated.json()["shot"]
    assert shot["artifacts"]["image"]["backend"] == "upload"
    with Image.open(io.BytesIO(download(client, shot["image_url"]))) as keyframe:
        assert keyframe.size == (320, 180)  # the story's keyframe size: covered, then cropped
        assert keyframe.getpixel((160, 90)) == pytest.approx(RED, abs=6)

    rendered = client.post("/api/v1/video/render", json={"operation_id": "op-r", "story_id": "story-001", "user_id": "u-001"})
    assert rendered.status_code == 200, rendered.text
    frame = mediacheck.frame_at(download(client, rendered.json()["video_url"]), 0.5)
    red, green, blue = frame.getpixel((frame.width // 2, frame.height // 3))[:3]
    assert red > 150 and green < 80 and blue < 80


def _tail_rms(client, video: bytes) -> float:
    """Loudness of the first shot's last 0.3 s, after its narration ended."""
    shots = client.get("/api/v1/stories/story-001", params={"user_id": "u-001"}).json()["shots"]
    end = shots[0]["artifacts"]["video"]["duration"]
    return mediacheck.audio_rms(video, end - 0.3, end - 0.05)


def test_uploaded_audio_plays_as_the_music(story):
    client = story
    music_id = uploaded(client, tone_wav(3.0, amplitude=0.8), media_type="audio/wav")["upload_id"]
    render = {"operation_id": "op-plain", "story_id": "story-001", "user_id": "u-001"}
    plain = client.post("/api/v1/video/render", json=render).json()
    with_music = client.post("/api/v1/video/render", json={**render, "operation_id": "op-music", "music_upload_id": music_id}).json()
    assert with_music["operation"]["status"] == "Success", with_music
    quiet = _tail_rms(client, download(client, plain["video_url"]))
    loud = _tail_rms(client, download(client, with_music["video_url"]))
    assert loud > 0.005 and loud > 5 * quiet, (quiet, loud)


@pytest.mark.parametrize(
    ("field", "endpoint", "extra"),
    [
        ("image_upload_id", "/api/v1/shot/regenerate", {"shot_id": "shot_01"}),
        ("music_upload_id", "/api/v1/video/render", {}),
    ],
)
def test_a_reference_must_name_an_upload_of_the_right_kind_of_this_user(story, field, endpoint, extra):
    client = story
    wrong_kind = uploaded(client, picture("PNG") if field == "music_upload_id" else tone_wav(0.5))["upload_id"]
    someone_elses = uploaded(client, picture("PNG") if field == "image_upload_id" else tone_wav(0.5), user_id="u-002")["upload_id"]
    for upload_id, code in ((wrong_kind, "invalid_request"), (someone_elses, "unknown_upload"), ("up_missing", "unknown_upload")):
        body = {"operation_id": "op-ref", "story_id": "story-001", "user_id": "u-001", field: upload_id, **extra}
        response = client.post(endpoint, json=body)
        assert response.status_code == 400, response.text
        assert (response.json()["error"]["param"], response.json()["error"]["code"]) == (field, code)
        assert client.get("/api/v1/operations/op-ref").status_code == 404  # nothing was started


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"", 400, "invalid_upload"),
        (b"just some text, not a picture", 415, "unsupported_media_type"),
        (b"--xyz\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n\x89PNG", 415, "unsupported_media_type"),
        (picture("JPEG", (640, 480))[:3000], 400, "invalid_upload"),
        (b"fLaC" + bytes(4000), 400, "invalid_upload"),
        (picture("PNG", (32, 32)), 400, "invalid_upload"),
    ],
    ids=["empty", "text", "multipart-form", "cut-off-jpeg", "broken-flac", "too-small"],
)
def test_bad_uploads_are_refused_and_leave_nothing(client, data, status, code):
    before = stored_files(client)
    response = upload(client, data)
    assert response.status_code == status, response.text
    assert (response.json()["error"]["code"], response.json()["error"]["param"]) == (code, "file")
    assert ("multipart" in response.json()["error"]["message"]) == data.startswith(b"--")
    assert stored_files(client) == before and upload_count(client) == 0


@pytest.mark.parametrize(
    "data",
    [cut_off_png(6000, 6000, rows=3), jpeg_cut_mid_scan(), jpeg_cut_mid_scan(with_eoi=True), progressive_jpeg_missing_scans(),
     wav_claiming(0xFFFFFFF0)],
    ids=["png-6000-square-cut-after-3-rows", "jpeg-cut-mid-scan", "jpeg-cut-mid-scan-then-eoi", "progressive-jpeg-missing-scans",
         "wav-claiming-4-gb"],
)
def test_files_that_do_not_decode_completely_get_400_naming_no_path(client, data):
    before = stored_files(client)
    response = upload(client, data)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("invalid_upload", "file")
    assert "/" not in error["message"] and "tmp" not in error["message"].lower(), error["message"]
    assert stored_files(client) == before and upload_count(client) == 0


def test_a_form_upload_is_told_to_send_the_file_itself(client):
    response = upload(client, b"--xyz\r\nContent-Disposition: form-data\r\n\r\n", media_type="multipart/form-data; boundary=xyz")
    assert response.status_code == 415 and "not a multipart form" in response.json()["error"]["message"]


def test_a_declared_size_over_the_limit_is_refused_before_reading(make_client):
    client = make_client(max_upload_bytes=4096)
    response = client.post(UPLOADS, params={"user_id": "u-001"}, content=b"x" * 5000)
    assert response.status_code == 413 and "MAX_UPLOAD_BYTES" in response.json()["error"]["message"]


def test_a_streamed_body_over_the_limit_is_cut_off_and_leaves_nothing(make_client):
    client = make_client(max_upload_bytes=4096)

    def chunks():
        yield picture("PNG", (64, 64))
        for _ in range(10):
            yield bytes(1000)

    response = client.post(UPLOADS, params={"user_id": "u-001"}, content=chunks())  # chunked: no Content-Length
    assert response.status_code == 413, response.text
    assert response.json()["error"]["param"] == "file"
    assert stored_files(client) == [] and upload_count(client) == 0


def test_a_picture_over_the_pixel_limit_is_refused(make_client):
    client = make_client(max_upload_pixels=10_000)
    response = upload(client, picture("PNG", (200, 200)))
    assert response.status_code == 413 and "MAX_UPLOAD_PIXELS" in response.json()["error"]["message"]


def test_deleting_an_upload_removes_its_file_unless_another_upload_holds_it(client):
    data = picture("PNG", (100, 100))
    first, second = uploaded(client, data), uploaded(client, data)
    one = f"{UPLOADS}/{first['upload_id']}"
    assert client.delete(one, params={"user_id": "u-001"}).status_code == 204
    assert client.get(one, params={"user_id": "u-001"}).status_code == 404
    assert client.get(first["url"]).status_code == 200  # the second upload still holds the file
    assert client.delete(f"{UPLOADS}/{second['upload_id']}", params={"user_id": "u-001"}).status_code == 204
    assert client.get(second["url"]).status_code == 404
    assert client.delete(one, params={"user_id": "u-001"}).status_code == 404


def test_uploads_are_invisible_to_other_users(client):
    mine = uploaded(client, picture("PNG"))
    path = f"{UPLOADS}/{mine['upload_id']}"
    assert client.get(path, params={"user_id": "u-002"}).status_code == 404
    assert client.delete(path, params={"user_id": "u-002"}).status_code == 404
    assert client.get(UPLOADS, params={"user_id": "u-002"}).json() == []
    assert client.get(path, params={"user_id": "u-001"}).status_code == 200


def test_url_imports_are_off_until_hosts_are_allowed(client):
    response = client.post(f"{UPLOADS}/from-url", json={"user_id": "u-001", "url": "https://example.com/a.png"})
    assert response.status_code == 400
    assert (response.json()["error"]["code"], response.json()["error"]["param"]) == ("url_imports_off", "url")
    assert "UPLOAD_URL_HOSTS" in response.json()["error"]["message"]


def test_a_url_import_from_an_allowed_host_is_stored_like_an_upload(make_client, httpserver):
    httpserver.expect_request("/pics/red.png").respond_with_data(picture("PNG", (120, 80), RED), content_type="image/png")
    client = make_client(upload_url_hosts="localhost", upload_url_allow_private=True)
    url = httpserver.url_for("/pics/red.png").replace("127.0.0.1", "localhost") + "?token=abc"
    response = client.post(f"{UPLOADS}/from-url", json={"user_id": "u-001", "url": url})
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["kind"], body["width"], body["height"], body["filename"]) == ("image", 120, 80, "red.png")
    assert body["source"] == url.split("?")[0]  # the query (it may hold a token) is not kept


def test_a_url_import_of_a_private_address_is_refused_without_fetching(make_client, httpserver):
    client = make_client(upload_url_hosts="localhost,127.0.0.1")
    for host in ("localhost", "127.0.0.1"):
        url = httpserver.url_for("/secret").replace("127.0.0.1", host)
        response = client.post(f"{UPLOADS}/from-url", json={"user_id": "u-001", "url": url})
        assert response.status_code == 400 and response.json()["error"]["code"] == "url_not_allowed", response.text
    assert httpserver.log == []


def test_with_api_keys_a_user_key_uploads_only_for_its_user_and_links_are_signed(make_client):
    key_a, key_b = "key-for-user-a-0123456789", "key-for-user-b-0123456789"
    client = make_client(api_keys=f"{key_a}:u-001,{key_b}:u-002")
    data = picture("PNG")
    refused = client.post(UPLOADS, content=data, params={"user_id": "u-002"}, headers={"X-API-Key": key_a})
    assert refused.status_code == 403 and refused.json()["error"]["param"] == "user_id"
    assert client.post(UPLOADS, content=data, params={"user_id": "u-001"}).status_code == 401
    mine = client.post(UPLOADS, content=data, params={"user_id": "u-001"}, headers={"X-API-Key": key_a}).json()
    assert "sig=" in mine["url"] and client.get(mine["url"]).status_code == 200
    assert client.get(mine["url"].split("?")[0]).status_code == 404
    path = f"{UPLOADS}/{mine['upload_id']}"
    assert client.get(path, params={"user_id": "u-001"}, headers={"X-API-Key": key_b}).status_code == 404
