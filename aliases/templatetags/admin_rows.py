from django import template
from django.contrib.admin.templatetags.base import InclusionAdminNode

from ..admin_rows import result_list

register = template.Library()


@register.tag(name="planned_result_list")
def planned_result_list_tag(parser, token):
    """Django's `result_list` tag (same template, same lookup), with rows planned per column."""
    return InclusionAdminNode(
        parser,
        token,
        func=result_list,
        template_name="change_list_results.html",
        takes_context=False,
    )
