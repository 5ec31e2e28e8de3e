"""Docker does not run here, so docker-compose.yml is checked against the settings instead."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from governance.env import REGISTRY, parse_database_url

ROOT = Path(__file__).resolve().parents[1]
APP_SERVICES = ("web", "worker", "beat")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _resolve(value: str) -> str:
    """Expand ${VAR:-default} and ${VAR:?error} the way compose does when VAR is unset."""
    import re

    return re.sub(r"\$\{[A-Z_]+:[-?]([^}]*)\}", lambda m: m.group(1), value)


def test_compose_defines_the_five_services_with_healthchecks(compose):
    services = compose["services"]
    for name in ("postgres", "redis", *APP_SERVICES):
        assert name in services, name
        health = services[name].get("healthcheck", {})
        assert health.get("test") and not health.get("disable"), f"{name} has no healthcheck"


def test_every_dependency_names_a_defined_service_and_waits_for_its_health(compose):
    services = compose["services"]
    for name, service in services.items():
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if services[dependency].get("healthcheck", {}).get("disable"):
                assert condition["condition"] == "service_completed_successfully"
            else:
                assert condition["condition"] == "service_healthy"
    for name in APP_SERVICES:
        assert {"postgres", "redis", "migrate"} <= set(services[name]["depends_on"])


def test_app_services_only_set_variables_the_settings_read(compose):
    for name in (*APP_SERVICES, "migrate"):
        environment = compose["services"][name]["environment"]
        unknown = set(environment) - set(REGISTRY)
        assert unknown == set(), f"{name} sets variables the settings ignore: {unknown}"
        assert environment["DEBUG"] == "false"
        assert "SECRET_KEY" in environment


def test_app_services_point_at_the_compose_postgres_and_redis(compose):
    services = compose["services"]
    postgres_env = services["postgres"]["environment"]
    for name in APP_SERVICES:
        environment = {k: _resolve(str(v)) for k, v in services[name]["environment"].items()}
        database = parse_database_url(environment["DATABASE_URL"])
        assert database["ENGINE"] == "django.db.backends.postgresql"
        assert database["HOST"] == "postgres"
        assert database["NAME"] == postgres_env["POSTGRES_DB"]
        assert database["USER"] == postgres_env["POSTGRES_USER"]
        assert database["PASSWORD"] == _resolve(postgres_env["POSTGRES_PASSWORD"])
        for key in ("CELERY_BROKER_URL", "CACHE_URL"):
            parts = urlsplit(environment[key])
            assert (parts.scheme, parts.hostname) == ("redis", "redis"), key


def test_app_commands_name_the_wsgi_application_and_celery_app(compose):
    from django.conf import settings

    services = compose["services"]
    wsgi_module = settings.WSGI_APPLICATION.rsplit(".", 1)[0]
    assert f"{wsgi_module}:application" in services["web"]["command"]
    for name in ("worker", "beat"):
        command = services[name]["command"]
        assert command[:3] == ["celery", "-A", "governance"]
        assert command[3] == name
    assert services["migrate"]["command"][-2:] == ["migrate", "--noinput"]


def test_volumes_used_by_services_are_declared(compose):
    declared = set(compose["volumes"])
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name} uses undeclared volume {source}"


def test_dockerfile_builds_every_app_package():
    dockerfile = (ROOT / "Dockerfile").read_text()
    for package in ("governance", "datasets", "consent"):
        assert f"COPY {package} ./{package}" in dockerfile
    assert "collectstatic" in dockerfile


def test_no_secret_has_a_default_so_start_up_refuses_without_it():
    """A default password in a compose file ends up in production. Every variable that names
    a secret is required (${VAR:?message}), never defaulted (${VAR:-value})."""
    import re

    text = (ROOT / "docker-compose.yml").read_text()
    defaulted = re.findall(r"\$\{([A-Z_]+):-", text)
    secrets = [name for name in defaulted if re.search(r"PASSWORD|SECRET|KEY|TOKEN", name)]
    assert secrets == []
    required = set(re.findall(r"\$\{([A-Z_]+):\?", text))
    assert {"SECRET_KEY", "POSTGRES_PASSWORD"} <= required
