"""Issue 17, newcomer details: forms default to the namespace subjects live in, emails link to
the port the app runs on, the package metadata builds without deprecation warnings."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.consent.factories import make_purpose, record

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
def test_hold_erasure_and_lookup_forms_default_to_the_namespace_subjects_live_in(client, petra):
    make_purpose("churn-model")
    record("c-1", "given")  # in namespace "shop", like the demo
    client.force_login(petra)
    for path in ("/retention/holds/", "/retention/erasure-requests/", "/consent/subjects/"):
        html = client.get(path).content.decode()
        assert 'name="namespace" value="shop"' in html, path
        assert '<datalist id="known-namespaces"><option value="shop">' in html, path


def test_make_run_links_emails_to_its_own_port():
    script = (ROOT / "bin" / "run-local").read_text()
    assert 'export SITE_URL="${SITE_URL:-http://127.0.0.1:${PORT}}"' in script


def test_the_licence_is_an_spdx_expression_not_a_table():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "Apache-2.0"
    assert project["build-system"]["requires"] == ["setuptools>=77"]


@pytest.mark.django_db
def test_a_failed_form_has_an_error_summary_an_error_title_and_described_fields(client, bob):
    """Issue 17 review: after a failed submit the page starts with a summary of the problems
    (role=alert, links to the fields), the title says "Error:", and each field's
    aria-describedby names an error list that exists."""
    import re

    client.force_login(bob)
    response = client.post("/access/request/", {"principal": "self", "justification": "short"})
    page = response.content.decode()
    assert response.status_code == 400
    assert re.search(r"<title>Error: ", page)
    summary = page.split('data-testid="error-summary"')[1].split("</div>")[0]
    assert 'href="#id_justification"' in summary
    described = " ".join(re.findall(r'aria-describedby="([^"]*)"', page)).split()
    assert "id_justification_error" in described
    for target in described:
        assert f'id="{target}"' in page, target
