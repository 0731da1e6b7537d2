"""The suite's own set-up: tests that share an expensive fixture run on one xdist worker, which builds it once."""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.xdist_group("suite_setup")


def test_grouped_tests_carry_their_group_to_the_scheduler(request):
    """``--dist loadgroup`` sends a group to one worker by a suffix of the node id; pytest 9.2 drops the suffix
    pytest-xdist 3.8 writes, and every grouped module's session fixture was then built on both workers."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        pytest.skip("the suite runs without xdist workers")
    assert request.node.nodeid.endswith("@suite_setup"), request.node.nodeid
