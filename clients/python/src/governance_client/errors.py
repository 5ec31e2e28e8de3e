"""Every way a governed read can fail, as an exception a job cannot mistake for an allow."""

from __future__ import annotations


class GovernanceError(Exception):
    """Base class of the client's errors."""


class RegistryUnavailable(GovernanceError):
    """The registry could not be reached or answered 503/429 on every try: nothing is
    allowed until it answers (fail closed)."""

    def __init__(self, message: str, *, attempts: int, last_status: int | None = None):
        super().__init__(message)
        self.attempts = attempts
        self.last_status = last_status


class UnexpectedAnswer(GovernanceError):
    """The registry's answer is not one the API gives: not JSON (a login page, a proxy's error
    page), a redirect, or a member missing. Nothing is allowed on such an answer."""


class ApiError(GovernanceError):
    """The registry refused the request: ``status``, and its error ``code``, ``message`` and
    ``details`` (the API's error shape)."""

    def __init__(self, status: int, code: str, message: str, details: dict | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}


class AuthenticationFailed(ApiError):
    """The client id and secret were refused, or the token was not accepted."""


class BudgetExceeded(ApiError):
    """The privacy-budget claim does not fit; ``remaining`` is what is left per data block."""

    @property
    def remaining(self) -> dict:
        return self.details.get("remaining", {})


class AccessDenied(GovernanceError):
    """The check said deny. ``reasons`` are the registry's (code and message each)."""

    def __init__(self, decision):
        self.decision = decision
        self.reasons = list(decision.reasons)
        codes = ", ".join(r.get("code", "?") for r in self.reasons) or "no reason given"
        super().__init__(
            f"Access to {decision.dataset!r} for {decision.purpose!r} denied ({codes}); "
            f"decision {decision.decision_id}"
        )


class LeaseInvalid(GovernanceError):
    """A lease that must not be honoured; ``reason`` is a short code (bad_signature, expired,
    wrong_audience, unknown_key, bad_algorithm, wrong_issuer, not_yet_valid, malformed)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class CommitFailed(GovernanceError):
    """The run's budget claim could not be committed before its lock lapsed. The data WAS read
    under it: the registry will give the claim's budget back when the lock expires, so results
    computed with it must not be released (publishing them would spend privacy budget the
    ledger does not count). ``claim_id`` names the claim; the cause is chained."""

    def __init__(self, claim_id: str, reason: str):
        self.claim_id = claim_id
        super().__init__(
            f"The data was read under budget claim {claim_id}, but the claim could not be "
            f"committed ({reason}). Its lock may lapse and its budget go back to the dataset: "
            "do not release results computed in this run; rerun it, or ask the registry's "
            "managers about the claim."
        )


class LeaseMismatch(GovernanceError):
    """The check's answer says something its signed lease does not (``differs``: which of
    decision_id, principal, dataset, purpose, fields, obligations). The body is not signed and
    anything between the job and the registry could have rewritten it; the lease is what the
    registry decided, so nothing is read (fail closed)."""

    def __init__(self, differs: list[str]):
        self.differs = list(differs)
        super().__init__(
            "the check's answer disagrees with its signed lease on "
            + ", ".join(self.differs)
            + "; it may have been altered in transit, so nothing is read"
        )


class ObligationError(GovernanceError):
    """An obligation the client cannot apply exactly as the decision says: the read stops."""
