"""Client of the data access governance and consent registry for training jobs.

    from governance_client import Client

    client = Client("https://governance.example.com", CLIENT_ID, CLIENT_SECRET)
    with client.governed_read("churn-events", "churn-model", frame, output_dir="out",
                              epsilon=0.5) as read:
        train(read.data)

See README.md."""

__version__ = "0.1.0"

from governance_client.client import Client
from governance_client.decision import (
    BudgetClaim,
    ConsentFilter,
    ConsentSnapshot,
    Decision,
    FilterResult,
    PrivacyBudget,
    bound_to_lease,
)
from governance_client.errors import (
    AccessDenied,
    ApiError,
    AuthenticationFailed,
    BudgetExceeded,
    CommitFailed,
    GovernanceError,
    LeaseInvalid,
    LeaseMismatch,
    ObligationError,
    RegistryUnavailable,
    UnexpectedAnswer,
)
from governance_client.governed import (
    GovernedRead,
    governed_read,
    subjects_digest,
    verify_manifest,
)
from governance_client.leases import ANY_AUDIENCE, verify_lease
from governance_client.obligations import apply_obligations
from governance_client.pseudonyms import PurposeKeys, pseudonym

__all__ = [
    "ANY_AUDIENCE",
    "AccessDenied",
    "ApiError",
    "AuthenticationFailed",
    "BudgetClaim",
    "BudgetExceeded",
    "Client",
    "CommitFailed",
    "ConsentFilter",
    "ConsentSnapshot",
    "Decision",
    "FilterResult",
    "GovernanceError",
    "GovernedRead",
    "LeaseInvalid",
    "LeaseMismatch",
    "ObligationError",
    "PrivacyBudget",
    "PurposeKeys",
    "RegistryUnavailable",
    "UnexpectedAnswer",
    "apply_obligations",
    "bound_to_lease",
    "governed_read",
    "pseudonym",
    "subjects_digest",
    "verify_lease",
    "verify_manifest",
]
