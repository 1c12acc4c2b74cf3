"""What a user who only clicks sees: the Airflow UI's VideoDB connection form, its Test
button, and a clip task's "VideoDB Player" link opening a player that plays.

A real Airflow 3 (api-server, scheduler, dag-processor, triggerer; see ``conftest.py``) and the
session's local VideoDB server, driven in Debian's Chromium (Playwright, headless). Every step
is saved as a screenshot under ``.run/test-artifacts/browser/``. With
``VIDEODB_UPDATE_DOC_IMAGES=1`` in the environment, the screenshots README.md and the docs
show (the connection form's two sections, the Test toast, the player) are also copied to
``docs/images/``::

    VIDEODB_UPDATE_DOC_IMAGES=1 .venv/bin/python -m pytest -p no:cacheprovider tests/browser

Skipped only when this machine has no Chromium (``/usr/bin/chromium`` or ``chromium`` on PATH).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from airflow_provider_videodb import get_provider_info
from tests.browser.conftest import CLIP_DAG_ID, DOC_IMAGES
from tests.e2e.real_airflow import Deployment, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

[_CONN_TYPE] = get_provider_info()["connection-types"]
#: What the provider declares for the form: labels of standard and extra fields.
RELABELING: dict[str, str] = _CONN_TYPE["ui-field-behaviour"]["relabeling"]
HIDDEN_FIELDS: list[str] = _CONN_TYPE["ui-field-behaviour"]["hidden-fields"]
CONN_FIELDS: dict[str, Any] = _CONN_TYPE["conn-fields"]
CLIP_PROMPT = "the part about the weather"
RUN_TIMEOUT = 180.0
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}

#: Every field of the open "Add/Edit Connection" dialog: its label (trimmed), whether it is
#: shown, and its widget (the first input that is not react-select's hidden helper).
_FORM_FIELDS_JS = """() => {
  const fields = {};
  for (const group of document.querySelectorAll(
      '[role=dialog] [data-scope=field][data-part=root]')) {
    const label = group.querySelector('[data-scope=field][data-part=label]');
    if (!label) continue;
    const input = Array.from(group.querySelectorAll('input, textarea'))
      .find(i => i.getAttribute('aria-hidden') !== 'true');
    fields[label.textContent.replace('*', '').trim()] = {
      visible: group.checkVisibility(),
      tag: input ? input.tagName.toLowerCase() : null,
      type: input ? input.type : null,
      role: input ? input.getAttribute('role') : null,
      name: input ? input.name : null,
      switch: input ? input.closest('[data-scope=switch]') !== null : false,
      checked: input ? input.checked : null,
    };
  }
  return fields;
}"""


def shot(page: Any, artifacts: Path, name: str, *, doc_image: bool = False) -> Path:
    """Screenshot ``page`` as ``<artifacts>/<name>.png`` (and into docs/images/ when asked
    and ``VIDEODB_UPDATE_DOC_IMAGES=1``)."""
    path = artifacts / f"{name}.png"
    page.screenshot(path=str(path))
    if doc_image and os.environ.get("VIDEODB_UPDATE_DOC_IMAGES") == "1":
        DOC_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOC_IMAGES / path.name)
    return path


def open_add_connection(page: Any, airflow: Deployment) -> Any:
    """Admin > Connections > "Add Connection", type VideoDB chosen; the dialog."""
    page.goto(f"http://127.0.0.1:{airflow.api_port}/connections")
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("combobox", name="Connection Type").click()
    page.keyboard.type("VideoDB")
    page.get_by_role("option", name="VideoDB", exact=True).click()
    dialog.get_by_label("Base URL").wait_for()
    return dialog


def form_fields(page: Any) -> dict[str, dict[str, Any]]:
    """The open dialog's fields by label (see ``_FORM_FIELDS_JS``)."""
    return dict(page.evaluate(_FORM_FIELDS_JS))


def add_connection(page: Any, airflow: Deployment, conn_id: str, *, host: str, key: str) -> None:
    """Fill in and save a VideoDB connection in the form, like a user: id, type, Base URL,
    API key and the port of the base URL (Airflow 3.3.0-3.3.2's Test refuses a connection
    saved without a port: it sends port 0, apache/airflow#73298)."""
    dialog = open_add_connection(page, airflow)
    dialog.get_by_label("Connection ID").fill(conn_id)
    dialog.get_by_label("Base URL").fill(host)
    dialog.get_by_label("API key").fill(key)
    dialog.get_by_label("Port (optional)").fill(str(urlsplit(host).port))
    dialog.get_by_role("button", name="Save").click()
    dialog.wait_for(state="hidden")


def click_test(page: Any, airflow: Deployment, conn_id: str) -> Any:
    """Click the row's "Test Connection" button; the toast of the test's result."""
    row = page.get_by_role("row").filter(has_text=conn_id)
    with page.expect_response(lambda r: r.url.endswith("/api/v2/connections/test")) as answer:
        row.get_by_role("button", name="Test Connection").click()
    assert answer.value.status == 200, f"POST /connections/test: {answer.value.text()}"
    toast = page.locator("[data-scope=toast][data-part=root]").filter(
        has_text=re.compile(r"Test Connection (Successful|Failed)")
    )
    toast.wait_for()
    return toast


def test_the_videodb_connection_form_shows_the_providers_fields(
    page: Any, airflow: Deployment, artifacts: Path
) -> None:
    """Choosing "VideoDB" relabels the standard fields, hides schema and login and shows the
    extra fields with the right widgets (numbers as number inputs, a switch for TLS)."""
    dialog = open_add_connection(page, airflow)
    fields = form_fields(page)
    for name, label in RELABELING.items():
        assert label in fields, f"no {label!r} field (for {name!r}); the form has {list(fields)}"
        assert fields[label]["visible"], f"{label!r} is not shown: {fields[label]}"
        assert fields[label]["name"] == name, f"{label!r} is not the {name!r} field"
    assert fields[RELABELING["port"]]["type"] == "number", fields[RELABELING["port"]]
    assert fields[RELABELING["password"]]["type"] == "password", "the API key is not masked"
    for name in HIDDEN_FIELDS:
        assert dialog.locator(f"input[name={name}], textarea[name={name}]").count() == 0, (
            f"the hidden field {name!r} is in the form"
        )
    shown = {label for label, field in fields.items() if field["visible"]}
    assert not shown & {"Schema", "Login"}, f"hidden fields are shown: {shown}"
    shot(page, artifacts, "connection-form-standard", doc_image=True)

    # The form's sections open one at a time: "Extra Fields" closes "Standard Fields".
    dialog.get_by_role("button", name="Extra Fields", exact=True).click()
    dialog.locator("[data-scope=switch][data-part=root]").wait_for()
    dialog.get_by_label("Base URL").wait_for(state="hidden")  # the section is done moving
    fields = form_fields(page)
    for name, spec in CONN_FIELDS.items():
        label = spec["label"]
        assert label in fields, f"no extra field {label!r} ({name!r}); the form has {list(fields)}"
        field = fields[label]
        assert field["visible"], f"{label!r} is not shown after opening Extra Fields: {field}"
        assert field["name"] == f"element_{name}", f"{label!r} is not extra {name!r}: {field}"
        kind = spec["schema"]["type"][0]
        if kind in ("number", "integer"):
            assert field["role"] == "spinbutton", f"{label!r} is not a number input: {field}"
        elif kind == "boolean":
            assert field["type"] == "checkbox" and field["switch"], f"{label!r}: {field}"
            assert field["checked"] is spec["schema"]["default"], f"{label!r} default: {field}"
        else:
            assert field["tag"] == "input" and field["type"] == "text", f"{label!r}: {field}"
            assert field["role"] != "spinbutton", f"{label!r} is a number input: {field}"
    # A taller window for the picture, so all of the extra fields are in it.
    box = dialog.bounding_box()
    assert box is not None
    page.set_viewport_size({"width": 1280, "height": min(2000, int(box["height"]) + 140)})
    shot(page, artifacts, "connection-form", doc_image=True)


def test_test_on_a_connection_made_in_the_ui(
    page: Any, airflow: Deployment, server: Any, artifacts: Path
) -> None:
    """A connection typed into the form passes Test, and the toast says what was checked; a
    wrong key fails naming the API key field, and the key is shown nowhere."""
    conn_id = f"videodb_ui_{secrets.token_hex(3)}"
    add_connection(page, airflow, conn_id, host=server.base_url, key=server.api_key)
    toast = click_test(page, airflow, conn_id)
    text = toast.inner_text()
    assert "Test Connection Successful" in text, f"Test did not succeed: {text!r}"
    expected = f"Connected to VideoDB at {server.base_url} as Local User; collection 'default'"
    assert expected in text and "found" in text, (
        f"the toast does not say what was checked: {text!r}"
    )
    assert server.api_key not in page.content(), "the API key is shown on the page"
    # What the form saved: the fields left empty are not frozen into the extra as defaults
    saved = requests.get(
        f"http://127.0.0.1:{airflow.api_port}/api/v2/connections/{conn_id}", timeout=30
    )
    assert saved.status_code == 200, saved.text
    extra = {
        k: v for k, v in json.loads(saved.json().get("extra") or "{}").items() if v is not None
    }
    assert extra == {"verify": True}, f"the form saved more than the switch's state: {extra}"
    checked = {(e["method"], e["path"]) for e in server.journal()}
    assert {("GET", "/user"), ("GET", "/collection/default")} <= checked, checked
    shot(page, artifacts, "connection-test", doc_image=True)

    wrong = f"sk-wrong-{secrets.token_hex(8)}"
    bad_id = f"videodb_ui_wrong_key_{secrets.token_hex(3)}"
    page.reload()
    add_connection(page, airflow, bad_id, host=server.base_url, key=wrong)
    toast = click_test(page, airflow, bad_id)
    text = toast.inner_text()
    assert "Test Connection Failed" in text, f"a wrong key passed Test: {text!r}"
    assert "the API key (field 'password')" in text and "HTTP 401" in text, text
    content = page.content()
    for form in (wrong, wrong[3:], server.api_key):
        assert form not in content, "a key is shown on the page"
    shot(page, artifacts, "connection-test-wrong-key")


def trigger_clip_run(airflow: Deployment, video_id: str) -> str:
    """Trigger the clip DAG through the REST API (as the UI's Trigger does); the run id."""
    run_id = f"browser_{secrets.token_hex(4)}"
    answer = requests.post(
        f"http://127.0.0.1:{airflow.api_port}/api/v2/dags/{CLIP_DAG_ID}/dagRuns",
        json={
            "dag_run_id": run_id,
            "logical_date": None,
            "conf": {"video_id": video_id, "prompt": CLIP_PROMPT},
        },
        timeout=30,
    )
    assert answer.status_code == 200, f"trigger {CLIP_DAG_ID}: {answer.status_code} {answer.text}"
    return run_id


def test_a_clip_tasks_player_link_opens_a_player_that_plays(
    page: Any, airflow: Deployment, server: Any, artifacts: Path
) -> None:
    """After a clip run, the task's "VideoDB Player" link opens the server's player page,
    whose video plays (HLS or the MP4 copy), and nothing is fetched from off the machine."""
    requested: list[str] = []
    page.context.on("request", lambda request: requested.append(request.url))

    run_id = trigger_clip_run(airflow, server.video_ids()[0])

    def finished() -> str | None:
        rows = airflow.query(
            "select state from dag_run where dag_id = ? and run_id = ?", CLIP_DAG_ID, run_id
        )
        return rows[0][0] if rows and rows[0][0] in ("success", "failed") else None

    state = wait_for("the clip run to finish", finished, airflow, RUN_TIMEOUT)
    assert state == "success", f"the clip run ended {state}:\n{airflow.tail('scheduler')}"

    page.goto(f"http://127.0.0.1:{airflow.api_port}/dags/{CLIP_DAG_ID}/runs/{run_id}/tasks/clip")
    page.get_by_role("link", name="Details", exact=True).click()
    link = page.get_by_role("link", name="VideoDB Player", exact=True)
    link.wait_for()
    href = link.get_attribute("href") or ""
    assert href.startswith(f"{server.base_url}/watch?v="), f"the link goes to {href!r}"
    shot(page, artifacts, "task-instance-details")

    with page.context.expect_page() as opened:
        link.click()  # target=_blank: a new tab
    player = opened.value
    player.wait_for_load_state()
    assert player.url == href, f"the link opened {player.url!r}, not {href!r}"

    playing = "() => { const v = document.getElementById('v'); return v && v.currentTime > 0.5; }"
    try:
        player.wait_for_function(playing, timeout=10_000)
    except Exception:  # autoplay held back: press play, as a user would
        player.evaluate("() => document.getElementById('v').play()")
        player.wait_for_function(playing, timeout=20_000)
    video = player.evaluate(
        """() => { const v = document.getElementById('v');
        return {source: v.dataset.source, time: v.currentTime, paused: v.paused,
                error: v.error && v.error.code, width: v.videoWidth, src: v.currentSrc}; }"""
    )
    assert video["source"] in ("hls", "mp4"), f"the player found nothing to play: {video}"
    assert video["error"] is None and not video["paused"] and video["width"] > 0, video
    assert video["time"] > 0.5, f"the video did not advance: {video}"
    suffix = ".m3u8" if video["source"] == "hls" else ".mp4"
    assert urlsplit(video["src"]).path.endswith(suffix), video
    assert any(url.startswith(f"{server.base_url}/hls/") for url in requested), requested
    shot(player, artifacts, "player", doc_image=True)

    off_machine = [
        url
        for url in requested
        if urlsplit(url).scheme not in ("data", "blob") and urlsplit(url).hostname not in LOOPBACK
    ]
    assert not off_machine, f"requests left the machine: {off_machine}"
