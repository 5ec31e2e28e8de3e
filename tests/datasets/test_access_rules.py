"""Object-level rules: a steward manages only the datasets they steward, through the services,
the portal and the API alike; engineers see approved datasets only."""

from __future__ import annotations

import pytest

from datasets import selectors, services
from datasets.models import Dataset
from governance.errors import NotFound, NotPermitted
from tests.accounts.factories import UserFactory
from tests.datasets.factories import BASIC_FIELDS, make_approved, make_dataset


@pytest.fixture
def carol(db):
    """A second steward."""
    return UserFactory(username="carol", roles=["steward"])


def test_a_steward_cannot_change_another_stewards_dataset(alice, carol):
    dataset = make_dataset(alice, fields=BASIC_FIELDS)
    with pytest.raises(NotPermitted, match="You do not steward this dataset"):
        services.dataset_update(actor=carol, dataset=dataset, name="hijacked")
    with pytest.raises(NotPermitted):
        services.field_create(actor=carol, dataset=dataset, name="extra")
    with pytest.raises(NotPermitted):
        services.dataset_retire(actor=carol, dataset=dataset, reason="x")
    dataset.refresh_from_db()
    assert (dataset.name, dataset.status, dataset.fields.count()) == ("support tickets", "draft", 2)


def test_drafts_are_invisible_to_other_stewards_and_engineers(alice, carol, bob, petra, audrey):
    dataset = make_dataset(alice)
    for viewer in (carol, bob):
        with pytest.raises(NotFound):
            selectors.dataset_get_for(viewer=viewer, slug=dataset.slug)
    for viewer in (alice, petra, audrey):
        assert selectors.dataset_get_for(viewer=viewer, slug=dataset.slug) == dataset


def test_engineers_see_approved_datasets_only(alice, petra, bob):
    make_dataset(alice, slug="draft-one")
    approved = make_approved(alice, petra, slug="ready-one")
    assert list(selectors.dataset_list(viewer=bob)) == [approved]


def test_admin_manages_every_dataset(alice, ada):
    dataset = make_dataset(alice)
    services.dataset_update(actor=ada, dataset=dataset, name="renamed by admin")
    assert Dataset.objects.get(pk=dataset.pk).name == "renamed by admin"


def test_only_stewards_and_admins_create_datasets(bob, audrey, petra):
    for person in (bob, audrey, petra):
        with pytest.raises(NotPermitted, match="Only stewards and administrators"):
            services.dataset_create(actor=person, slug="x", name="x", storage_kind="csv")
    assert not Dataset.objects.exists()


# --- API ----------------------------------------------------------------------------------


def test_api_steward_b_cannot_touch_steward_as_dataset(client, alice, carol, petra):
    draft = make_dataset(alice, slug="alices-draft", fields=BASIC_FIELDS)
    approved = make_approved(alice, petra, slug="alices-approved")
    client.force_login(carol)
    # a draft of someone else does not exist for carol
    response = client.post(
        f"/api/v1/datasets/{draft.slug}/update", {"name": "x"}, content_type="application/json"
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    # an approved dataset is visible but not hers to change
    response = client.post(
        f"/api/v1/datasets/{approved.slug}/retire",
        {"note": "mine now"},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "You do not steward this dataset."
    response = client.post(
        f"/api/v1/datasets/{approved.slug}/fields/email/classify",
        {"role": "non_personal", "treatment": "keep"},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert Dataset.objects.get(pk=approved.pk).status == "approved"
    assert approved.fields.get(name="email").role == "direct_identifier"


def test_api_engineer_reads_approved_datasets_with_fields(client, alice, petra, bob):
    make_dataset(alice, slug="hidden-draft")
    make_approved(alice, petra, slug="ready")
    client.force_login(bob)
    listing = client.get("/api/v1/datasets/").json()["results"]
    assert [d["slug"] for d in listing] == ["ready"]
    detail = client.get("/api/v1/datasets/ready").json()
    assert detail["status"] == "approved"
    assert detail["sensitivity"] == "confidential"
    assert [f["name"] for f in detail["fields"]] == ["ticket_id", "email"]
    assert detail["fields"][1]["treatment"] == "pseudonymize"
    assert client.get("/api/v1/datasets/hidden-draft").status_code == 404


def test_api_create_classify_submit_approve(client, alice, petra):
    # given a steward working through the API
    client.force_login(alice)
    response = client.post(
        "/api/v1/datasets/create",
        {
            "slug": "health-survey",
            "name": "Health survey",
            "storage_kind": "postgres_table",
            "location": "research.survey",
            "tags": ["research"],
        },
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["stewards"] == ["alice"]
    client.post(
        "/api/v1/datasets/health-survey/fields/create",
        {"name": "diagnosis"},
        content_type="application/json",
    )
    # when a special-category field is classified without naming the special category
    response = client.post(
        "/api/v1/datasets/health-survey/fields/diagnosis/classify",
        {"category": "user.health_and_medical.diagnosis", "role": "sensitive", "treatment": "drop"},
        content_type="application/json",
    )
    # then it is refused, naming the problem
    assert response.status_code == 400
    assert "special-category data" in response.json()["error"]["message"]
    response = client.post(
        "/api/v1/datasets/health-survey/fields/diagnosis/classify",
        {
            "category": "user.health_and_medical.diagnosis",
            "role": "sensitive",
            "special_category": "health",
            "treatment": "drop",
        },
        content_type="application/json",
    )
    assert response.status_code == 200
    assert client.get("/api/v1/datasets/health-survey").json()["sensitivity"] == "restricted"
    response = client.post(
        "/api/v1/datasets/health-survey/submit",
        {
            "personal_fields_need": "Diagnosis is the label of the model.",
            "anonymization": "Respondents are pseudonymous; diagnosis cannot be removed.",
            "access_and_duration": "Research team, 30 days.",
        },
        content_type="application/json",
    )
    assert response.status_code == 200
    client.force_login(petra)
    # restricted data is never approved without a note on record
    response = client.post(
        "/api/v1/datasets/health-survey/approve", {}, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"]["field"] == "note"
    response = client.post(
        "/api/v1/datasets/health-survey/approve",
        {"note": "Diagnosis kept as the label; DPIA-7."},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert response.json()["status"] == "approved"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"slug": "Bad Slug", "name": "x", "storage_kind": "csv"}, "slug"),
        ({"slug": "ok", "name": "x", "storage_kind": "excel"}, "storage_kind"),
        ({"slug": "ok", "name": "x", "storage_kind": "csv", "owner": "ghost"}, "owner"),
    ],
)
def test_api_bad_input_is_a_400_naming_the_field_and_creates_nothing(client, alice, payload, field):
    client.force_login(alice)
    response = client.post("/api/v1/datasets/create", payload, content_type="application/json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert field in error["details"] or error["details"].get("field") == field
    assert not Dataset.objects.exists()


def test_api_transition_from_wrong_state_is_409(client, alice, petra):
    make_dataset(alice, slug="draft-only", fields=BASIC_FIELDS)
    client.force_login(petra)
    response = client.post(
        "/api/v1/datasets/draft-only/approve", {}, content_type="application/json"
    )
    assert response.status_code == 409
    assert response.json()["error"]["message"] == "A dataset that is draft cannot be approved."


# --- Portal -------------------------------------------------------------------------------


def test_portal_steward_b_gets_404_or_403_on_steward_as_dataset(client, alice, carol, petra):
    draft = make_dataset(alice, slug="alices-draft", fields=BASIC_FIELDS)
    approved = make_approved(alice, petra, slug="alices-approved")
    client.force_login(carol)
    assert client.get(f"/datasets/{draft.slug}/").status_code == 404
    assert client.get(f"/datasets/{approved.slug}/").status_code == 200
    assert client.get(f"/datasets/{approved.slug}/edit/").status_code == 403
    response = client.post(f"/datasets/{approved.slug}/transition/retire/", {"note": "x"})
    assert response.status_code == 403
    assert Dataset.objects.get(pk=approved.pk).status == "approved"


def test_portal_catalog_filters(client, alice, petra):
    make_dataset(
        alice,
        slug="events",
        fields={"country": ("user.contact.address.country", "quasi_identifier", "", "keep")},
        tags=["shop"],
    )
    make_approved(alice, petra, slug="tickets")
    client.force_login(alice)
    html = client.get("/datasets/?sensitivity=internal").content.decode()
    assert "/datasets/events/" in html and "/datasets/tickets/" not in html
    html = client.get("/datasets/?tag=shop").content.decode()
    assert "/datasets/events/" in html and "/datasets/tickets/" not in html
    html = client.get("/datasets/?category=user.contact").content.decode()
    assert "/datasets/events/" in html and "/datasets/tickets/" in html
    html = client.get("/datasets/?status=approved&q=tick").content.decode()
    assert "/datasets/events/" not in html and "/datasets/tickets/" in html


def test_catalog_list_uses_a_fixed_number_of_queries(
    client, alice, petra, django_assert_max_num_queries
):
    for i in range(6):
        make_dataset(alice, slug=f"set-{i}", fields=BASIC_FIELDS, tags=["a", "b"])
    client.force_login(alice)
    client.get("/datasets/")
    with django_assert_max_num_queries(14):
        response = client.get("/datasets/")
    assert response.content.decode().count('href="/datasets/set-') == 6


def test_portal_submit_form_shows_the_missing_answer(client, alice):
    make_dataset(alice, slug="s", fields=BASIC_FIELDS)
    client.force_login(alice)
    response = client.post(
        "/datasets/s/submit/",
        {
            "personal_fields_need": "short",
            "anonymization": "Pseudonymized with a keyed hash.",
            "access_and_duration": "The NLP team for 30 days.",
        },
    )
    assert response.status_code == 200
    assert b"Answer the question in at least 10 characters" in response.content
    assert Dataset.objects.get(slug="s").status == "draft"
