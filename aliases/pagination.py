"""Numbered pages whose count stops at a cap, for the portal's lists of requests and aliases.

An exact COUNT reads every matching row (hundreds of milliseconds at 100,000 requests) to
print one number; counting a LIMITed subquery stops at the cap, and past it a person narrows
the search rather than pages through 400 screens.
"""

from django.core.paginator import Paginator
from django.utils.functional import cached_property

COUNT_CAP = 10_000


def capped_count(queryset, *, cap: int | None = None) -> tuple[int, bool]:
    """(the number of rows, at most cap; whether more match), as CappedPaginator counts."""
    cap = COUNT_CAP if cap is None else cap
    counted = queryset[: cap + 1].count()
    return min(counted, cap), counted > cap


class CappedPaginator(Paginator):
    def __init__(self, object_list, per_page, *, cap: int | None = None, **kwargs) -> None:
        super().__init__(object_list, per_page, **kwargs)
        self.cap = COUNT_CAP if cap is None else cap

    @cached_property
    def _counted(self) -> int:
        # SELECT COUNT(*) FROM (SELECT ... LIMIT cap + 1): one row more tells "more than".
        return self.object_list[: self.cap + 1].count()

    @cached_property
    def count(self) -> int:
        return min(self._counted, self.cap)

    @property
    def capped(self) -> bool:
        """Whether more rows match than were counted: the page count is a lower bound."""
        return self._counted > self.cap
