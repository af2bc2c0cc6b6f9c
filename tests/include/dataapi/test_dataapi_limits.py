"""Parallel senders share the SET limit so that their sum never exceeds it."""

from __future__ import annotations

import pytest

from learnosity_core.dataapi.limits import SET_REQUESTS_PER_WINDOW, set_rate_share


@pytest.mark.parametrize("senders", [1, 2, 3, 4, 7, 16, 49, 50])
def test_shares_add_up_to_at_most_the_limit(senders: int) -> None:
    share = set_rate_share(senders)
    assert share >= 1
    assert share * senders <= SET_REQUESTS_PER_WINDOW


@pytest.mark.parametrize("senders", [0, -3, 60, 1000])
def test_every_sender_may_send_at_least_one_request(senders: int) -> None:
    assert set_rate_share(senders) >= 1


def test_one_sender_gets_the_whole_limit() -> None:
    assert set_rate_share(1) == SET_REQUESTS_PER_WINDOW == 50
