"""On/off settings typed on the command line read as people mean them, or are refused in one line."""

from __future__ import annotations

import pytest

from scripts.switches import SwitchError, switch, switches


@pytest.mark.parametrize("text", ["true", "True", "YES", "on", "1", True, 1])
def test_words_for_on(text):
    assert switch(text, "resume") is True


@pytest.mark.parametrize("text", ["false", "False", "no", "Off", "0", False, 0])
def test_words_for_off(text):
    assert switch(text, "resume") is False


def test_none_means_the_model_decides_and_anything_else_is_refused():
    assert switches(remove_islands=None, bf16="false") == {"remove_islands": None, "bf16": False}
    with pytest.raises(SwitchError, match=r"--save_meshes: expected true or false, got 'maybe'"):
        switch("maybe", "save_meshes")
    with pytest.raises(SwitchError):
        switch(2, "resume")
