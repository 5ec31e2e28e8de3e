"""The registry's API as a training job uses it: OAuth2 client credentials, the check, the
consent filter and export at the decision's snapshot, pseudonymization keys, budget claims and
lease verification. Every call has a timeout; 503 and 429 are retried with exponential backoff
(honouring Retry-After), a connection that could not be made is retried too, any other 4xx is
never retried; when the tries are used up the call raises RegistryUnavailable — never an
allow."""

from __future__ import annotations

import email.utils
import hashlib
import json
import random
import threading
import time
from collections.abc import Iterable, Iterator

import httpx

from governance_client.decision import BudgetClaim, Decision, FilterResult
from governance_client.errors import (
    AccessDenied,
    ApiError,
    AuthenticationFailed,
    BudgetExceeded,
    CommitFailed,
    GovernanceError,
    LeaseInvalid,
    RegistryUnavailable,
    UnexpectedAnswer,
)
from governance_client.leases import verify_lease
from governance_client.pseudonyms import PurposeKeys

RETRY_STATUSES = {429, 503}
KEYS_PATH = "/api/v1/access/keys"
DEFAULT_FILTER_BATCH = 10_000


class Client:
    """``Client(base_url, client_id, client_secret)``: a service account of the registry.

    ``timeout`` bounds each request (seconds); ``retries`` is how many times a 503/429 or a
    failed connection is tried again (so at most ``retries + 1`` tries), waiting
    ``backoff * 2**n`` seconds (with jitter, at most ``max_backoff``) or what Retry-After
    says, whichever is longer (still at most ``max_backoff``)."""

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        timeout: float = 10.0,
        retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        issuer: str = "governance-registry",
        transport: httpx.BaseTransport | None = None,
        sleep=time.sleep,
        clock=time.time,
    ):
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self._secret = client_secret
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.issuer = issuer
        self._sleep = sleep
        self._clock = clock
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": "governance-client/0.1"},
        )
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = threading.Lock()
        self._keys: dict | None = None
        self._keys_fetched = 0.0
        self._keys_max_age = 300.0
        self._keys_lock = threading.Lock()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.base_url!r}, client_id={self.client_id!r})"

    # --- transport --------------------------------------------------------------------------

    def _wait(self, attempt: int, response: httpx.Response | None) -> float:
        delay = min(self.backoff * 2**attempt, self.max_backoff)
        delay *= 0.5 + random.random() / 2  # noqa: S311 - jitter, not security
        if response is not None:
            retry_after = _retry_after(response.headers.get("Retry-After"))
            if retry_after is not None:
                delay = max(delay, retry_after)
        return min(delay, self.max_backoff)

    def _send(self, method: str, path: str, *, authenticated: bool = True, **kwargs):
        """One call with retries. Returns the response (2xx); raises ApiError for a refusal,
        RegistryUnavailable when every try failed."""
        last_status = None
        refreshed = False
        attempt = 0
        extra_headers = dict(kwargs.pop("headers", None) or {})
        while True:
            headers = dict(extra_headers)
            if authenticated:
                headers["Authorization"] = f"Bearer {self._access_token()}"
            response = None
            try:
                response = self._http.request(method, path, headers=headers, **kwargs)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
                last_error = error  # the request never reached the registry: safe to retry
            except httpx.TransportError as error:
                if method != "GET":
                    # It may have reached the registry: retrying a write could repeat it.
                    raise RegistryUnavailable(
                        f"{method} {path}: the registry did not answer ({type(error).__name__}); "
                        "nothing is assumed about the outcome.",
                        attempts=attempt + 1,
                    ) from error
                last_error = error
            else:
                if response.status_code == 401 and authenticated and not refreshed:
                    refreshed = True  # the token expired or was revoked: one fresh token
                    self._token = None
                    continue
                if response.status_code not in RETRY_STATUSES:
                    if response.status_code >= 400:
                        raise _api_error(response)
                    if response.status_code >= 300:
                        raise UnexpectedAnswer(
                            f"{method} {path}: the registry answered with a redirect "
                            f"({response.status_code} to {response.headers.get('Location')!r}), "
                            "not the API's answer; check the base URL. Nothing is allowed."
                        )
                    return response
                last_status = response.status_code
                last_error = None
            if attempt >= self.retries:
                detail = f"HTTP {last_status}" if last_status else type(last_error).__name__
                raise RegistryUnavailable(
                    f"{method} {path}: the registry is unavailable ({detail}) after "
                    f"{attempt + 1} tries; nothing was allowed.",
                    attempts=attempt + 1,
                    last_status=last_status,
                )
            self._sleep(self._wait(attempt, response))
            attempt += 1

    def _access_token(self) -> str:
        with self._token_lock:
            if self._token and time.time() < self._token_expires - 30:
                return self._token
            response = self._send(
                "POST",
                "/o/token/",
                authenticated=False,
                data={"grant_type": "client_credentials"},
                auth=(self.client_id, self._secret),
            )
            body = _object(response, "POST /o/token/")
            token = body.get("access_token")
            if not isinstance(token, str) or not token:
                raise UnexpectedAnswer("POST /o/token/: the answer holds no access_token")
            try:
                lifetime = float(body.get("expires_in", 300))
            except (TypeError, ValueError):
                lifetime = 300.0
            self._token = token
            self._token_expires = time.time() + lifetime
            return self._token

    def _json(self, method: str, path: str, **kwargs) -> dict:
        return _object(self._send(method, path, **kwargs), f"{method} {path}")

    # --- the check --------------------------------------------------------------------------

    def check(
        self, dataset: str, purpose: str, fields: list[str] | None = None, *, raise_on_deny=True
    ) -> Decision:
        """May this job read ``dataset`` for ``purpose`` now? A typed Decision; AccessDenied
        (with the reasons) on deny unless ``raise_on_deny`` is false."""
        body: dict = {"dataset": dataset, "purpose": purpose}
        if fields is not None:
            body["fields"] = list(fields)
        decision = Decision.from_json(self._json("POST", "/api/v1/access/check", json=body))
        if not decision.allowed and raise_on_deny:
            raise AccessDenied(decision)
        return decision

    # --- consent ----------------------------------------------------------------------------

    def _consent_filter_of(self, decision: Decision):
        consent = decision.consent_filter
        if consent is None:
            raise GovernanceError(
                f"purpose {decision.purpose!r} does not rest on consent: there is no filter"
            )
        return consent

    def filter_subjects(
        self, decision: Decision, subject_ids: Iterable, *, batch_size: int = DEFAULT_FILTER_BATCH
    ) -> FilterResult:
        """The ids among ``subject_ids`` whose consent was valid at the decision's snapshot
        (its namespace, as_of and known_at), asked in batches."""
        consent = self._consent_filter_of(decision)
        ids = sorted({str(value) for value in subject_ids if value is not None})
        kept: list[str] = []
        snapshots: list[str] = []
        for start in range(0, len(ids), batch_size):
            body = {"snapshot": consent.snapshot.id, "subject_ids": ids[start : start + batch_size]}
            answer = self._json("POST", consent.filter_endpoint, json=body)
            kept.extend(answer["subject_ids"])
            snapshots.append(answer["snapshot"]["id"])
        return FilterResult(
            kept=sorted(kept),
            asked=len(ids),
            snapshot=consent.snapshot,
            namespace=consent.namespace,
            batch_snapshots=snapshots,
        )

    def iter_consented(self, decision: Decision) -> Iterator[str]:
        """Every subject id with valid consent at the decision's snapshot, streamed from the
        export (NDJSON) without holding the set in memory. Connection failures before the first
        line are retried; a stream cut short raises RegistryUnavailable."""
        consent = self._consent_filter_of(decision)
        attempt = 0
        while True:
            headers = {"Authorization": f"Bearer {self._access_token()}"}
            try:
                with self._http.stream("GET", consent.export_endpoint, headers=headers) as response:
                    if response.status_code in RETRY_STATUSES and attempt < self.retries:
                        self._sleep(self._wait(attempt, response))
                        attempt += 1
                        continue
                    if response.status_code >= 400:
                        response.read()
                        raise _api_error(response)
                    digest, count = hashlib.sha256(), 0
                    for line in response.iter_lines():
                        if line:
                            row = json.loads(line)
                            digest.update(f"{row['namespace']}:{row['subject_id']}\n".encode())
                            count += 1
                            yield row["subject_id"]
                    sealed = response.headers.get("X-Consent-Snapshot")
                break
            except (httpx.ConnectError, httpx.ConnectTimeout) as error:
                if attempt >= self.retries:
                    raise RegistryUnavailable(
                        f"the consent export is unavailable after {attempt + 1} tries",
                        attempts=attempt + 1,
                    ) from error
                self._sleep(self._wait(attempt, None))
                attempt += 1
            except httpx.TransportError as error:
                raise RegistryUnavailable(
                    "the consent export stream was cut short; the subject set is incomplete",
                    attempts=attempt + 1,
                ) from error
        # A stream that ends is not proof that it ended at the end: the registry seals the
        # export's snapshot (count and hash) after its last line, so compare.
        recorded = self.snapshot(sealed) if sealed else {}
        if (
            not recorded.get("completed_at")
            or recorded.get("count") != count
            or recorded.get("sha256") != digest.hexdigest()
        ):
            raise RegistryUnavailable(
                f"the consent export ended after {count} subjects without matching its sealed "
                "snapshot; the subject set is incomplete",
                attempts=attempt + 1,
            )

    def snapshot(self, snapshot_id: str) -> dict:
        return self._json("GET", f"/api/v1/consent/snapshots/{snapshot_id}")

    # --- pseudonymization -------------------------------------------------------------------

    def pseudonym_keys(self, dataset: str, purpose: str) -> PurposeKeys:
        """The purpose's pseudonymization secrets (needs an allow for dataset and purpose)."""
        body = self._json(
            "POST", "/api/v1/access/pseudonym-keys", json={"dataset": dataset, "purpose": purpose}
        )
        return PurposeKeys.from_json(body)

    def apply_obligations(self, table, decision: Decision, **options):
        """``obligations.apply_obligations`` with the purpose's keys fetched when needed."""
        from governance_client.obligations import apply_obligations

        keys = options.pop("keys", None)
        if keys is None and "pseudonymize" in decision.treatments.values():
            keys = self.pseudonym_keys(decision.dataset, decision.purpose)
        return apply_obligations(table, decision, keys=keys, **options)

    # --- privacy budget ---------------------------------------------------------------------

    def claim_budget(
        self,
        decision: Decision,
        *,
        epsilon: float,
        delta: float = 0.0,
        blocks: list[int] | None = None,
        note: str = "",
    ) -> BudgetClaim:
        """Lock ``epsilon`` (and ``delta``) of the dataset's privacy budget. BudgetExceeded
        (with what is left per block) when it does not fit."""
        body = {
            "dataset": decision.dataset,
            "purpose": decision.purpose,
            "epsilon": epsilon,
            "delta": delta,
            "decision_id": decision.decision_id,
            "note": note,
        }
        if blocks is not None:
            body["blocks"] = blocks
        return BudgetClaim.from_json(self._json("POST", "/api/v1/budget/claims", json=body))

    def claim(self, claim_id: str) -> BudgetClaim:
        return BudgetClaim.from_json(self._json("GET", f"/api/v1/budget/claims/{claim_id}"))

    def commit_claim(self, claim: BudgetClaim | str) -> BudgetClaim:
        """Spend the claim for good. Committing is idempotent (a second commit of a committed
        claim is answered 409 ``committed``, read as done), so an unavailable registry or a
        lost answer is tried again, with backoff, until the claim's lock would lapse. When
        it still could not commit: CommitFailed — the data was read, do not release results."""
        if isinstance(claim, str):
            claim = self.claim(claim)
        until = claim.lock_expires_at.timestamp() if claim.lock_expires_at else self._clock()
        path = f"/api/v1/budget/claims/{claim.id}/commit"
        attempt = 0
        while True:
            try:
                return BudgetClaim.from_json(self._json("POST", path))
            except ApiError as error:
                if error.status == 409 and error.details.get("status") == "committed":
                    return self.claim(claim.id)  # an earlier try went through
                raise CommitFailed(
                    claim.id, f"{error.status} {error.code}: {error.message}"
                ) from error
            except RegistryUnavailable as error:
                delay = self._wait(attempt, None)
                if self._clock() + delay >= until:
                    raise CommitFailed(
                        claim.id, "the registry stayed unavailable until the lock lapsed"
                    ) from error
                self._sleep(delay)
                attempt += 1

    def release_claim(self, claim: BudgetClaim | str) -> BudgetClaim:
        claim_id = claim if isinstance(claim, str) else claim.id
        return BudgetClaim.from_json(
            self._json("POST", f"/api/v1/budget/claims/{claim_id}/release")
        )

    # --- leases -----------------------------------------------------------------------------

    def keys(self, *, refresh: bool = False) -> dict:
        """The published lease keys (JWKS), cached for the endpoint's max-age."""
        with self._keys_lock:
            fresh = time.time() - self._keys_fetched < self._keys_max_age
            if self._keys is not None and fresh and not refresh:
                return self._keys
            response = self._send("GET", KEYS_PATH, authenticated=False)
            self._keys = _object(response, f"GET {KEYS_PATH}")
            self._keys_fetched = time.time()
            self._keys_max_age = _max_age(response.headers.get("Cache-Control"), default=300.0)
            return self._keys

    def verify_lease(self, lease: str, *, audience, now: float | None = None) -> dict:
        """The lease's claims when genuine and current for ``audience`` (``ANY_AUDIENCE`` for
        a job checking its own lease). A kid not yet known refetches the keys once (a
        rotation), at most once a minute."""
        try:
            return verify_lease(lease, self.keys(), audience=audience, issuer=self.issuer, now=now)
        except LeaseInvalid as invalid:
            if invalid.reason != "unknown_key" or time.time() - self._keys_fetched < 60:
                raise
        return verify_lease(
            lease, self.keys(refresh=True), audience=audience, issuer=self.issuer, now=now
        )

    # --- all of it --------------------------------------------------------------------------

    def governed_read(self, dataset: str, purpose: str, source, **options):
        """Check → consent filter → obligations → budget claim, and a run manifest; see
        ``governance_client.governed.governed_read``."""
        from governance_client.governed import governed_read

        return governed_read(self, dataset, purpose, source, **options)


def _object(response: httpx.Response, call: str) -> dict:
    """The answer's JSON object; UnexpectedAnswer when it is something else (an HTML login or
    error page from a proxy, say)."""
    try:
        body = response.json()
    except ValueError:
        kind = response.headers.get("Content-Type", "no Content-Type")
        raise UnexpectedAnswer(
            f"{call}: the answer is not JSON ({response.status_code}, {kind}); a proxy or login "
            "page may stand in front of the registry. Nothing is allowed."
        ) from None
    if not isinstance(body, dict):
        raise UnexpectedAnswer(f"{call}: the answer is not a JSON object")
    return body


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _max_age(cache_control: str | None, *, default: float) -> float:
    for part in (cache_control or "").split(","):
        name, _, value = part.strip().partition("=")
        if name == "max-age":
            try:
                return float(value)
            except ValueError:
                return default
    return default


def _api_error(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, str):  # the OAuth2 token endpoint's shape (RFC 6749)
        return AuthenticationFailed(
            response.status_code, error, body.get("error_description", error)
        )
    if not isinstance(error, dict):
        return ApiError(
            response.status_code, "error", response.text[:200] or response.reason_phrase
        )
    cls = ApiError
    if error.get("code") == "budget_exceeded":
        cls = BudgetExceeded
    elif response.status_code == 401:
        cls = AuthenticationFailed
    return cls(
        response.status_code,
        error.get("code", "error"),
        error.get("message", ""),
        error.get("details"),
    )
