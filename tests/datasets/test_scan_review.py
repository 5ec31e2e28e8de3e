"""The review flow after a scan (issue 15, item 4): responses and history show the steward's
decision, the decision survives re-scans, progress advances per column, selected suggestions are
accepted in one go (API and portal), columns left to a person cannot be accepted blindly, and the
queue puts the riskiest columns first."""

from __future__ import annotations

import csv

import pytest

from datasets import selectors, services
from datasets.models import Field, Scan, Suggestion
from datasets.services import scans
from governance.errors import ApplicationError, Conflict
from tests.datasets.factories import make_dataset

CARDS = ["4111111111111111", "5500005555555559", "4012888888881881", "4222222222222"]


def write_csv(path, header, rows):
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def samples(tmp_path, settings):
    settings.SCANNER_FILE_ROOTS = [tmp_path.resolve()]
    settings.SCANNER_UPLOAD_DIR = tmp_path / "uploads"
    return tmp_path


@pytest.fixture
def tickets(samples):
    return write_csv(
        samples / "tickets.csv",
        ["ticket_id", "email", "card", "religion"],
        [
            [i, f"person{i}@example.org", CARDS[i % 4], ("Catholic", "Muslim", "Atheist")[i % 3]]
            for i in range(40)
        ],
    )


def scan(actor, dataset, path) -> Scan:
    return services.scan_run(
        scan_id=services.scan_start(actor=actor, dataset=dataset, path=str(path)).pk
    )


def _suggestion(scan: Scan, field: str) -> Suggestion:
    return scan.suggestions.select_related("field", "category").get(field__name=field)


# --- the steward's decision in responses and history -----------------------------------------


def test_an_edit_answers_with_the_stewards_choice_and_keeps_the_proposal_beside_it(
    client, alice, tickets
):
    dataset = make_dataset(alice, slug="tickets")
    card = _suggestion(scan(alice, dataset, tickets), "card")
    client.force_login(alice)
    # when the steward edits the card suggestion: sensitive and dropped instead of masked
    response = client.post(
        f"/api/v1/datasets/suggestions/{card.pk}/edit",
        {"category": "user.financial", "role": "sensitive", "treatment": "drop"},
        content_type="application/json",
    )
    # then the answer shows what the steward chose, and what the scanner had proposed
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["category"], body["role"], body["treatment"]) == (
        "edited", "user.financial", "sensitive", "drop",
    )  # fmt: skip
    assert body["decision"] == {
        "category": "user.financial",
        "role": "sensitive",
        "special_category": "",
        "treatment": "drop",
    }
    assert body["proposal"] == {
        "category": "user.financial.credit_card",
        "role": "direct_identifier",
        "special_category": "",
        "treatment": "mask",
    }
    # and the history (every status) shows the same
    history = client.get("/api/v1/datasets/tickets/suggestions?status=all").json()["results"]
    edited = next(s for s in history if s["field"] == "card")
    assert (edited["category"], edited["role"], edited["decision"]["treatment"]) == (
        "user.financial", "sensitive", "drop",
    )  # fmt: skip


def test_the_portal_history_shows_the_edited_classification(client, alice, tickets):
    dataset = make_dataset(alice, slug="tickets")
    card = _suggestion(scan(alice, dataset, tickets), "card")
    services.suggestion_edit(
        actor=alice, suggestion=card, category=None, role="sensitive",
        special_category="", treatment="drop", note="",
    )  # fmt: skip
    client.force_login(alice)

    page = client.get("/datasets/tickets/review/?status=edited").content.decode()

    assert "Steward chose: not personal · Sensitive attribute · treat: Drop" not in page
    assert "Steward chose: no category · Sensitive attribute · treat: Drop" in page
    assert "Scanner proposed: <code>user.financial.credit_card</code>" in page


def test_accepting_records_the_accepted_classification_as_the_decision(alice, tickets):
    dataset = make_dataset(alice, slug="tickets")
    email = _suggestion(scan(alice, dataset, tickets), "email")

    services.suggestion_accept(actor=alice, suggestion=email)

    email.refresh_from_db()
    assert email.decision == {
        "category": "user.contact.email",
        "role": "direct_identifier",
        "special_category": "",
        "treatment": "pseudonymize",
    }


# --- decisions survive re-scans ---------------------------------------------------------------


def test_previous_decision_survives_an_intermediate_rescan(alice, samples, tickets):
    dataset = make_dataset(alice, slug="tickets")
    first = scan(alice, dataset, tickets)
    services.suggestion_accept(actor=alice, suggestion=_suggestion(first, "card"))
    # a second scan of the same data keeps the decision
    second = scan(alice, dataset, tickets)
    assert _suggestion(second, "card").status == "kept"
    # when a third scan sees different evidence in the column
    changed = write_csv(
        samples / "tickets2.csv",
        ["ticket_id", "email", "card", "religion"],
        [[i, f"person{i}@example.org", f"x{i}@example.org", "Atheist"] for i in range(40)],
    )
    third = scan(alice, dataset, changed)
    # then the new suggestion names the steward's decision, not the intermediate "kept"
    again = _suggestion(third, "card")
    assert again.status == "suggested"
    assert again.changes["previous_decision"] == "accepted"
    assert again.changes["evidence_changed"] is True


# --- progress per column ----------------------------------------------------------------------


def test_progress_advances_after_every_column(alice, tickets, monkeypatch):
    dataset = make_dataset(alice, slug="tickets")
    recorded = []
    original = scans._progress

    def spy(scan, percent, **extra):
        recorded.append((percent, extra.get("columns_done")))
        original(scan, percent, **extra)

    monkeypatch.setattr(scans, "_progress", spy)

    result = scan(alice, dataset, tickets)

    assert result.progress == 100
    per_column = [(p, done) for p, done in recorded if done is not None]
    assert per_column == [(51, 1), (62, 2), (74, 3), (85, 4)]


# --- bulk accept ------------------------------------------------------------------------------


def test_selected_suggestions_are_accepted_together_and_the_others_wait(client, alice, tickets):
    dataset = make_dataset(alice, slug="tickets")
    result = scan(alice, dataset, tickets)
    email, card = _suggestion(result, "email"), _suggestion(result, "card")
    client.force_login(alice)

    response = client.post(
        "/api/v1/datasets/tickets/suggestions/accept",
        {"ids": [email.pk, card.pk]},
        content_type="application/json",
    )

    assert response.status_code == 200, response.content
    assert [(s["field"], s["status"]) for s in response.json()["results"]] == [
        ("email", "accepted"),
        ("card", "accepted"),
    ]
    fields = dict(dataset.fields.values_list("name", "classification_source"))
    assert fields == {"ticket_id": "", "email": "scan_accepted", "card": "scan_accepted",
                      "religion": ""}  # fmt: skip
    assert _suggestion(result, "religion").status == "suggested"


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({}, 400, "The request has invalid fields; see details."),
        ({"ids": []}, 400, "The request has invalid fields; see details."),
        ({"ids": ["x"]}, 400, "The request has invalid fields; see details."),
        ({"ids": [999999]}, 400, "These ids are not suggestions of this dataset: 999999."),
    ],
)
def test_bulk_accept_refuses_bad_selections_and_changes_nothing(
    client, alice, tickets, body, status, message
):
    dataset = make_dataset(alice, slug="tickets")
    scan(alice, dataset, tickets)
    client.force_login(alice)

    response = client.post(
        "/api/v1/datasets/tickets/suggestions/accept", body, content_type="application/json"
    )

    assert response.status_code == status
    assert response.json()["error"]["message"] == message
    assert not Field.objects.filter(dataset=dataset).exclude(role="").exists()


def test_bulk_accept_is_all_or_nothing_when_one_was_already_decided(alice, tickets):
    dataset = make_dataset(alice, slug="tickets")
    result = scan(alice, dataset, tickets)
    email, card = _suggestion(result, "email"), _suggestion(result, "card")
    services.suggestion_reject(actor=alice, suggestion=card)

    with pytest.raises(Conflict, match=r"^Suggestion for card was already decided \(rejected\)\.$"):
        scans.suggestions_accept(actor=alice, dataset=dataset, suggestion_ids=[email.pk, card.pk])

    email.refresh_from_db()
    assert email.status == "suggested"
    assert not Field.objects.filter(dataset=dataset).exclude(role="").exists()


def test_bulk_accept_of_another_datasets_suggestion_is_refused(client, alice, tickets):
    mine = make_dataset(alice, slug="tickets")
    other = make_dataset(alice, slug="other")
    scan(alice, mine, tickets)
    theirs = _suggestion(scan(alice, other, tickets), "email")
    client.force_login(alice)

    response = client.post(
        "/api/v1/datasets/tickets/suggestions/accept",
        {"ids": [theirs.pk]},
        content_type="application/json",
    )

    assert response.status_code == 400
    theirs.refresh_from_db()
    assert theirs.status == "suggested"


def test_bulk_accept_needs_a_steward_of_the_dataset(client, alice, petra, tickets):
    dataset = make_dataset(alice, slug="tickets")
    email = _suggestion(scan(alice, dataset, tickets), "email")
    client.force_login(petra)

    response = client.post(
        "/api/v1/datasets/tickets/suggestions/accept",
        {"ids": [email.pk]},
        content_type="application/json",
    )

    assert response.status_code == 403
    email.refresh_from_db()
    assert email.status == "suggested"


def test_the_portal_accepts_the_ticked_suggestions(client, alice, tickets):
    dataset = make_dataset(alice, slug="tickets")
    result = scan(alice, dataset, tickets)
    email, card = _suggestion(result, "email"), _suggestion(result, "card")
    client.force_login(alice)

    page = client.get("/datasets/tickets/review/").content.decode()
    assert 'data-testid="accept-selected"' in page
    assert f'name="selected" value="{email.pk}"' in page
    response = client.post(
        "/datasets/tickets/review/",
        {"decision": "accept_selected", "selected": [email.pk, card.pk]},
    )

    assert response.status_code == 302
    accepted = Suggestion.objects.filter(status="accepted").values_list("field__name", flat=True)
    assert set(accepted) == {"email", "card"}
    page = client.get(response["Location"]).content.decode()
    assert "2 suggestions accepted." in page


def test_the_portal_says_when_nothing_was_ticked(client, alice, tickets):
    dataset = make_dataset(alice, slug="tickets")
    scan(alice, dataset, tickets)
    client.force_login(alice)

    response = client.post(
        "/datasets/tickets/review/", {"decision": "accept_selected"}, follow=True
    )

    assert "Tick the suggestions to accept first." in response.content.decode()
    assert not Suggestion.objects.filter(status="accepted").exists()


# --- columns left to a person; risk order -----------------------------------------------------


def test_a_column_left_to_a_person_cannot_be_accepted_only_edited(client, alice, samples):
    path = write_csv(samples / "codes.csv", ["a", "b"], [[i, f"k{i % 3}"] for i in range(30)])
    dataset = make_dataset(alice, slug="codes")
    a = _suggestion(scan(alice, dataset, path), "a")
    assert (a.category, a.role, a.treatment, str(a.confidence)) == (None, "", "", "0.10")
    client.force_login(alice)

    response = client.post(f"/api/v1/datasets/suggestions/{a.pk}/accept")

    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        "The scanner left a to a person: edit the suggestion to classify it, or reject it."
    )
    with pytest.raises(ApplicationError):
        scans.suggestions_accept(actor=alice, dataset=dataset, suggestion_ids=[a.pk])
    a.refresh_from_db()
    assert a.status == "suggested"


def test_the_queue_puts_possible_special_categories_first(alice, tickets):
    dataset = make_dataset(alice, slug="tickets")
    scan(alice, dataset, tickets)

    queue = selectors.suggestion_queue(viewer=alice, dataset=dataset)

    assert [s.field.name for s in queue] == ["religion", "email", "card", "ticket_id"]


def test_a_column_whose_name_could_be_a_path_is_reported_not_added(alice, samples):
    path = write_csv(samples / "paths.csv", ["id", "a/../b"], [[i, i] for i in range(10)])
    dataset = make_dataset(alice, slug="paths")
    # when
    result = scan(alice, dataset, path)
    # then the scan succeeds, adds the other column and reports this one
    assert result.status == "succeeded"
    assert list(dataset.fields.values_list("name", flat=True)) == ["id"]
    assert result.summary["unlisted_columns"] == ["a/../b"]
