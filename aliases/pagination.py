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
    counted = _count_up_to(queryset, cap + 1)
    return min(counted, cap), counted > cap


def _count_up_to(queryset, limit: int) -> int:
    """SELECT COUNT(*) FROM (SELECT ... LIMIT limit), without the ORDER BY: which rows fall
    under the limit does not change how many there are, and unordered, PostgreSQL need not
    sort every match (or walk an index in order) to count them."""
    return queryset.order_by()[:limit].count()


class CappedPaginator(Paginator):
    def __init__(self, object_list, per_page, *, cap: int | None = None, **kwargs) -> None:
        super().__init__(object_list, per_page, **kwargs)
        self.cap = COUNT_CAP if cap is None else cap

    @cached_property
    def _counted(self) -> int:
        # One row more than the cap tells "more than".
        return _count_up_to(self.object_list, self.cap + 1)

    @cached_property
    def count(self) -> int:
        return min(self._counted, self.cap)

    @property
    def capped(self) -> bool:
        """Whether more rows match than were counted: the page count is a lower bound."""
        return self._counted > self.cap
