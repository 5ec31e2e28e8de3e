"""django-oauth-toolkit's validator, reading a bearer token's service account with the token.

Every API call of a training job authenticates a client-credentials token, whose application
is resolved to its service account (``governance.accounts.authentication``). The stock
validator reads the token with its application; this one also reads the application's service
account, its identity and its owner in the same statement, instead of a second query per call
(issue 14). What is checked is unchanged: the token by its checksum, its expiry and scopes by
the toolkit, the account and its owner by the authentication class and the permission.
"""

from __future__ import annotations

import hashlib

from oauth2_provider.models import get_access_token_model
from oauth2_provider.oauth2_validators import OAuth2Validator


class ServiceAccountValidator(OAuth2Validator):
    def _load_access_token(self, token):
        checksum = hashlib.sha256(token.encode("utf-8")).hexdigest()
        model = get_access_token_model()
        # ``get`` on the unique checksum: no ORDER BY to build, as ``first`` would.
        try:
            return model.objects.select_related(
                "user",
                "application__service_account__user",
                "application__service_account__owner",
            ).get(token_checksum=checksum)
        except model.DoesNotExist:
            return None
