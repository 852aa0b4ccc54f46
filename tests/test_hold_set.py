"""HoldSet.covering against the definition: a target covers itself and what is under it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from artifactstore.holds import Hold, HoldSet, Retention, covers

NOW = datetime(2026, 12, 7, tzinfo=timezone.utc)
segment = st.sampled_from(["a", "b", "ab", "a.b", "c"])
path = st.lists(segment, min_size=1, max_size=4).map("/".join)


def naive(
    holds: list[Hold], retentions: list[Retention], key: str
) -> tuple[set[Hold], datetime | None]:
    found = {h for h in holds if covers(h.target, key)}
    dates = [r.until for r in retentions if covers(r.target, key) and r.until > NOW]
    return found, max(dates) if dates else None


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.tuples(path, st.sampled_from(["m1", "m2"])), max_size=6),
    st.lists(st.tuples(path, st.integers(-3, 3)), max_size=3),
    path,
)
def test_covering_matches_the_definition(
    hold_specs: list[tuple[str, str]], retention_specs: list[tuple[str, int]], key: str
) -> None:
    holds = list({(t, n): Hold(t, n, created_at=NOW) for t, n in hold_specs}.values())
    retentions = list(
        {t: Retention(t, NOW + timedelta(days=d), set_at=NOW) for t, d in retention_specs}.values()
    )
    found, until = HoldSet(holds, retentions).covering(key, now=NOW)
    assert (set(found), until) == naive(holds, retentions, key)


def test_a_hold_deeper_than_the_key_or_beside_it_does_not_cover_it() -> None:
    held = HoldSet([Hold("DEAL-1/documents", "m"), Hold("DEAL-10", "m")])
    assert held.covering("DEAL-1")[0] == []
    assert held.covering("DEAL-1/doc")[0] == []
    assert held.covering("DEAL-1/documents")[0] != []
    assert held.covering("DEAL-1/documents/cim.pdf")[0] != []
    assert held.covering("DEAL-100/x")[0] == []
