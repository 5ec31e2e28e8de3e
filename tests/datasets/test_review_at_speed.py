"""Issue 17, review at speed: decisions in place (htmx, no reload), bulk accept of the
confident suggestions, a next step when the queue empties, Submit disabled until every field is
classified, and the form-level error in red."""

from __future__ import annotations

import html

import pytest

from datasets.models import Suggestion
from tests.datasets.factories import make_dataset
from tests.datasets.test_scan_review import _suggestion, samples, scan, tickets  # noqa: F401

pytestmark = pytest.mark.django_db


def text(response) -> str:
    return html.unescape(response.content.decode())


def test_accepting_in_place_answers_with_the_decided_suggestion_and_the_progress(
    client,
    alice,
    tickets,  # noqa: F811
):
    dataset = make_dataset(alice, slug="tickets")
    result = scan(alice, dataset, tickets)
    email = _suggestion(result, "email")
    left = Suggestion.objects.filter(status="suggested").count()
    client.force_login(alice)
    page = text(client.get("/datasets/tickets/review/"))
    assert f'hx-target="#suggestion-{email.pk}" hx-swap="outerHTML"' in page
    # when the steward accepts with htmx
    response = client.post(
        "/datasets/tickets/review/",
        {"suggestion": email.pk, "decision": "accept"},
        HTTP_HX_REQUEST="true",
    )
    # then the answer is the suggestion alone, decided, and the progress line out of band
    assert response.status_code == 200
    fragment = text(response)
    assert "<html" not in fragment
    assert fragment.lstrip().startswith('<article data-testid="suggestion" data-field="email"')
    assert "Accepted by alice" in fragment
    assert 'id="queue-progress"' in fragment and 'hx-swap-oob="true"' in fragment
    assert f"<strong>{left - 1}</strong> suggestion" in fragment
    email.refresh_from_db()
    assert email.status == "accepted"


def test_a_refused_decision_in_place_shows_inside_the_suggestion_and_changes_nothing(
    client,
    alice,
    petra,
    samples,  # noqa: F811
):
    from tests.datasets.test_scan_review import write_csv

    path = write_csv(samples / "codes.csv", ["a", "b"], [[i, f"k{i % 3}"] for i in range(30)])
    dataset = make_dataset(alice, slug="codes")
    a = _suggestion(scan(alice, dataset, path), "a")
    client.force_login(alice)
    response = client.post(
        "/datasets/codes/review/",
        {"suggestion": a.pk, "decision": "accept"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert 'data-testid="decision-error"' in text(response)
    a.refresh_from_db()
    assert a.status == "suggested"


def test_bulk_accept_of_the_confident_suggestions_leaves_the_others(
    client,
    alice,
    tickets,  # noqa: F811
):
    dataset = make_dataset(alice, slug="tickets")
    scan(alice, dataset, tickets)
    confident = set(
        Suggestion.objects.filter(status="suggested", confidence__gte=0.9)
        .exclude(role="")
        .values_list("pk", flat=True)
    )
    others = set(Suggestion.objects.filter(status="suggested").values_list("pk", flat=True))
    others -= confident
    assert confident, "the sample must have confident suggestions"
    client.force_login(alice)
    page = text(client.get("/datasets/tickets/review/"))
    assert f"Accept all with confidence ≥ 0.9 ({len(confident)})" in page
    response = client.post("/datasets/tickets/review/", {"decision": "accept_confident"})
    assert response.status_code == 302
    accepted = set(Suggestion.objects.filter(status="accepted").values_list("pk", flat=True))
    assert accepted == confident
    waiting = set(Suggestion.objects.filter(status="suggested").values_list("pk", flat=True))
    assert waiting == others


def test_an_empty_queue_offers_the_next_step(client, alice, tickets):  # noqa: F811
    dataset = make_dataset(alice, slug="tickets")
    result = scan(alice, dataset, tickets)
    client.force_login(alice)
    for suggestion in result.suggestions.all():
        if suggestion.role:
            client.post(
                "/datasets/tickets/review/", {"suggestion": suggestion.pk, "decision": "accept"}
            )
        else:
            client.post(
                "/datasets/tickets/review/",
                {
                    "suggestion": suggestion.pk,
                    "decision": "edit",
                    "role": "non_personal",
                    "treatment": "keep",
                },
            )
    page = text(client.get("/datasets/tickets/review/"))
    assert 'data-testid="queue-empty"' in page
    assert 'href="/datasets/tickets/submit/" role="button" data-testid="next-submit"' in page
    assert "Nothing here." not in page


def test_submit_is_disabled_until_every_field_is_classified(client, alice):
    from datasets import services

    dataset = make_dataset(alice, slug="half", fields={"id": (None, "non_personal", "", "keep")})
    services.field_create(actor=alice, dataset=dataset, name="notes")
    client.force_login(alice)
    page = text(client.get(f"/datasets/{dataset.slug}/"))
    assert '<button type="button" disabled data-testid="submit-review">' in page
    assert "not yet: notes" in page
    submit = text(client.get(f"/datasets/{dataset.slug}/submit/"))
    assert 'data-testid="send-for-review" disabled' in submit
    empty = make_dataset(alice, slug="empty")
    assert "Describe the dataset's fields" in text(client.get(f"/datasets/{empty.slug}/"))


def test_not_personal_with_a_special_category_is_refused_and_a_saved_edit_shows_what_was_saved(
    client,
    alice,
    tickets,  # noqa: F811
):
    from datasets.models import Field

    dataset = make_dataset(alice, slug="tickets")
    result = scan(alice, dataset, tickets)
    email = _suggestion(result, "email")
    client.force_login(alice)
    contradiction = {
        "suggestion": email.pk,
        "decision": "edit",
        "role": "non_personal",
        "special_category": "political_opinions",
        "treatment": "keep",
    }
    # when the review queue's Edit saves a contradiction
    refused = text(client.post("/datasets/tickets/review/", contradiction, HTTP_HX_REQUEST="true"))
    # then it is refused inside the card and nothing changes
    assert "Data that is not personal cannot be in a special category" in refused
    email.refresh_from_db()
    assert email.status == "suggested"
    # and the field's own edit form refuses it too
    page = client.post(
        "/datasets/tickets/fields/email/edit/",
        {"role": "non_personal", "special_category": "political_opinions", "treatment": "keep"},
    )
    assert "Data that is not personal cannot be in a special category" in text(page)
    assert Field.objects.get(dataset=dataset, name="email").special_category == ""
    # when a consistent edit is saved in place, the card shows what was saved
    saved = text(
        client.post(
            "/datasets/tickets/review/",
            {**contradiction, "special_category": "", "treatment": "drop"},
            HTTP_HX_REQUEST="true",
        )
    )
    header = saved.split("</header>")[0]
    assert "not personal · Not personal data" in header
    assert "treat: Drop" in header
