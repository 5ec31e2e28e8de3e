"""``{{ value|amount }}``: an ε or δ as people write it (1.5, 3, 0.000001), not 1.500000."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import template

register = template.Library()


@register.filter
def amount(value) -> str:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return ""
    if not number.is_finite():
        return ""
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "") else text
