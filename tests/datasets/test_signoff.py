"""Issue 17: a dataset's legal sign-off comes below the review answers, with a note and a
checklist; what is missing shows at once and nothing changes."""

from __future__ import annotations

import html
import re

import pytest

from datasets import services
from datasets.models import Dataset
from governance.audit.models import LedgerEntry
from tests.datasets.factories import ANSWERS, make_dataset

pytestmark = pytest.mark.django_db

HEALTH = {
    "id": ("user.unique_id.pseudonymous", "quasi_identifier", "", "keep"),
    "diagnosis": ("user.health_and_medical.diagnosis", "sensitive", "health", "drop"),
}


@pytest.fixture
def restricted(alice):
    dataset = make_dataset(alice, slug="survey", fields=HEALTH)
    services.dataset_submit(actor=alice, dataset=dataset, **ANSWERS)
    return dataset


def test_the_sign_off_sits_below_the_review_answers_with_the_checklist(client, petra, restricted):
    client.force_login(petra)
    page = html.unescape(client.get("/datasets/survey/").content.decode())
    assert page.index('data-testid="review"') < page.index('data-testid="sign-off"')
    assert 'value="special"' in page  # restricted: the Art. 9 item is on the checklist
    assert "Restricted data is never approved without a note." in page


def test_approval_without_note_or_complete_checklist_changes_nothing(client, petra, restricted):
    client.force_login(petra)
    seen = hidden_inputs(client.get("/datasets/survey/").content.decode())
    response = client.post(
        "/datasets/survey/transition/approve/", {**seen, "checklist": ["classification"]}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert 'data-testid="note-error"' in page and 'data-testid="checklist-error"' in page
    assert Dataset.objects.get(slug="survey").status == "in_review"
    assert not LedgerEntry.objects.filter(event="dataset.approved").exists()
    # complete
    items = ["classification", "answers", "minimisation", "special"]
    response = client.post(
        "/datasets/survey/transition/approve/",
        {**seen, "checklist": items, "note": "DPIA-7 covers it."},
    )
    assert response.status_code == 302
    assert Dataset.objects.get(slug="survey").status == "approved"
    entry = LedgerEntry.objects.get(event="dataset.approved")
    assert (entry.additional_data["note"], entry.additional_data["checklist"]) == (
        "DPIA-7 covers it.",
        sorted(items),
    )


def hidden_inputs(page: str) -> dict[str, str]:
    found = {}
    for tag in re.findall(r"<input[^>]*>", page):
        if 'type="hidden"' in tag and "csrfmiddlewaretoken" not in tag:
            value = re.search(r'value="([^"]*)"', tag)
            found[re.search(r'name="([^"]*)"', tag).group(1)] = value.group(1) if value else ""
    return found


def test_a_sign_off_of_a_review_version_that_was_replaced_is_refused_with_the_new_version(
    client, alice, petra, restricted
):
    # given petra opens the review of version 1 (the diagnosis is dropped)
    client.force_login(petra)
    seen = hidden_inputs(client.get("/datasets/survey/").content.decode())
    assert seen["version"] == "1" and seen["fingerprint"]
    # and it is returned, the diagnosis changed to "keep" and resubmitted as version 2
    services.dataset_return(actor=petra, dataset=restricted, note="Say why it is needed.")
    diagnosis = restricted.fields.get(name="diagnosis")
    services.field_classify(
        actor=alice,
        field=diagnosis,
        category=diagnosis.category,
        role="sensitive",
        special_category="health",
        treatment="keep",
    )
    services.dataset_submit(actor=alice, dataset=restricted, **ANSWERS)
    # when petra's old sign-off form is posted
    items = ["classification", "answers", "minimisation", "special"]
    response = client.post(
        "/datasets/survey/transition/approve/",
        {**seen, "checklist": items, "note": "DPIA-7 covers it."},
    )
    # then nothing is approved; the page shows version 2 with a sign-off form for it
    assert response.status_code == 409
    page = html.unescape(response.content.decode())
    assert (
        "What you reviewed changed: below is review version 2 as it is now. Read it again "
        "before you sign off." in page
    )
    assert hidden_inputs(page)["version"] == "2"
    assert Dataset.objects.get(slug="survey").status == "in_review"
    assert not LedgerEntry.objects.filter(event="dataset.approved").exists()
    # and the API refuses a stale version too
    api = client.post(
        "/api/v1/datasets/survey/approve",
        {"note": "DPIA-7 covers it.", "version": 1},
        content_type="application/json",
    )
    assert api.status_code == 409
    assert Dataset.objects.get(slug="survey").status == "in_review"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("bad name/../x", "A field name cannot contain “/” or “\\”."),
        ("..", "A field name cannot be “.” or “..”."),
        ("evil\u202etxt", "A field name cannot contain control or text-direction characters."),
        ("tab\there", "A field name cannot contain control or text-direction characters."),
        ("n" * 300, "A field name is 1 to 200 characters (this has 300)."),
    ],
)
def test_a_field_name_that_could_be_a_path_or_hide_text_is_refused_and_the_input_kept(
    client, alice, name, message
):
    # given
    make_dataset(alice, slug="draft-data")
    client.force_login(alice)
    # when
    response = client.post("/datasets/draft-data/fields/new/", {"name": name})
    # then the page names the problem, keeps what was typed, and adds nothing
    assert response.status_code == 400
    page = html.unescape(response.content.decode())
    assert message in page
    assert f'value="{name}"' in page
    assert not Dataset.objects.get(slug="draft-data").fields.exists()


def test_a_note_of_invisible_characters_is_no_note_through_the_api_or_the_portal(
    client, petra, restricted
):
    client.force_login(petra)
    # the API
    response = client.post(
        "/api/v1/datasets/survey/approve",
        {"note": "\u200b\u2060 \ufeff"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"]["field"] == "note"
    # the portal
    seen = hidden_inputs(client.get("/datasets/survey/").content.decode())
    items = ["classification", "answers", "minimisation", "special"]
    page = client.post(
        "/datasets/survey/transition/approve/", {**seen, "checklist": items, "note": "\u200b"}
    )
    assert page.status_code == 400
    assert 'data-testid="note-error"' in page.content.decode()
    assert Dataset.objects.get(slug="survey").status == "in_review"
