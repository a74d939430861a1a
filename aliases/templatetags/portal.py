from django import template
from django.urls import NoReverseMatch, reverse

register = template.Library()


@register.simple_tag
def extension_history_url(login: str) -> str:
    """The history page of `login`, or "" for text that cannot be one (old events keep it)."""
    try:
        return reverse("aliases:extension_history", args=[login])
    except NoReverseMatch:
        return ""
