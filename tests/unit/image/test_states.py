from __future__ import annotations

import pytest

from image.states import ImageStatus, next_status


@pytest.mark.parametrize(
    ("action", "current", "expected"),
    [
        ("upload", ImageStatus.QUEUED, ImageStatus.SAVING),
        ("upload", ImageStatus.ACTIVE, None),
        ("upload", ImageStatus.KILLED, None),
        ("deactivate", ImageStatus.ACTIVE, ImageStatus.DEACTIVATED),
        ("deactivate", ImageStatus.QUEUED, None),
        ("reactivate", ImageStatus.DEACTIVATED, ImageStatus.ACTIVE),
        ("import", ImageStatus.UPLOADING, ImageStatus.IMPORTING),
        ("import", ImageStatus.QUEUED, None),
    ],
)
def test_transitions_follow_the_table(action, current, expected):
    assert next_status(action, current) is expected


def test_every_status_has_a_docstring_in_the_source():
    import inspect

    import image.states as states

    source = inspect.getsource(states.ImageStatus)
    for status in ImageStatus:
        assert f'{status.name} = "{status.value}"\n    """' in source, status
