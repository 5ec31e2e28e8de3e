from __future__ import annotations

import factory

from governance.accounts.models import User
from governance.accounts.services import service_account_create, user_roles_set

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"person{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    kind = User.Kind.PERSON
    password = factory.django.Password(PASSWORD)

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        if create and extracted is not None:
            user_roles_set(user=self, roles=extracted, actor=None)


def make_service_account(owner: User, name: str = "fraud-training", roles=()):
    account, secret = service_account_create(name=name, owner=owner, actor=None)
    if roles:
        user_roles_set(user=account.user, roles=list(roles), actor=None)
    return account, secret
