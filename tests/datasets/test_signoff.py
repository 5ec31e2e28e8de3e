"""Issue 17: a dataset's legal sign-off comes below the review answers, with a note and a
checklist; what is missing shows at once and nothing changes."""

from __future__ import annotations

import html

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
    response = client.post(
        "/datasets/survey/transition/approve/", {"checklist": ["classification"]}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert 'data-testid="note-error"' in page and 'data-testid="checklist-error"' in page
    assert Dataset.objects.get(slug="survey").status == "in_review"
    assert not LedgerEntry.objects.filter(event="dataset.approved").exists()
    # complete
    items = ["classification", "answers", "minimisation", "special"]
    response = client.post(
        "/datasets/survey/transition/approve/", {"checklist": items, "note": "DPIA-7 covers it."}
    )
    assert response.status_code == 302
    assert Dataset.objects.get(slug="survey").status == "approved"
    entry = LedgerEntry.objects.get(event="dataset.approved")
    assert (entry.additional_data["note"], entry.additional_data["checklist"]) == (
        "DPIA-7 covers it.",
        sorted(items),
    )
