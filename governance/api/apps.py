from django.apps import AppConfig


class ApiConfig(AppConfig):
    """The API shell (errors, parsers, throttles, pagination, schema). On start-up it makes
    DRF's string fields strict: a JSON number or boolean sent where the schema says "string"
    is refused (400 "Not a valid string."), as the schema promises, instead of being turned
    into text."""

    name = "governance.api"
    label = "governance_api"

    def ready(self) -> None:
        from rest_framework import fields

        if getattr(fields.CharField.to_internal_value, "_strict", False):
            return
        lenient = fields.CharField.to_internal_value

        def to_internal_value(self, data):
            if not isinstance(data, str):
                self.fail("invalid")
            return lenient(self, data)

        to_internal_value._strict = True
        fields.CharField.to_internal_value = to_internal_value
