"""What every format parser shares: the result type, the error, and a reader that cannot read much.

Parsers only ever see a :class:`Reader`, so the promise "headers only, a few MiB at most, whatever the upload's
size" is kept in one place instead of in each parser.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import BinaryIO

from common.exceptions import StratusError

#: Most bytes one inspection may read. The largest legitimate need is a qcow2 header cluster (2 MiB at most).
READ_BUDGET = 4 * 1024 * 1024

#: How much of a file name from a hostile header we repeat back to the user.
_SHOWN_NAME_CHARS = 128


class InspectionError(StratusError):
    """The upload is malformed, unsafe, or not what its ``disk_format`` says; the message tells the user which."""

    msg_fmt = "{reason}"
    code = 400
    title = "Bad Request"


@dataclass(frozen=True)
class ImageInfo:
    """What an inspected file really is.

    ``format`` is the detected container (``raw``, ``qcow2``, ``vmdk``, ``iso``, ``vhd``, ``vhdx``, ``vdi``,
    ``qed`` or ``luks``); ``virtual_size`` is the size in bytes of the disk a guest would see, from the header;
    ``actual_size`` is the length of the uploaded file in bytes.
    """

    format: str
    virtual_size: int
    actual_size: int


class Reader:
    """Positioned reads of one upload, refused once :data:`READ_BUDGET` bytes have been asked for.

    Reads past the end of the file come back short (or empty) rather than failing, because parsers must treat a
    truncated upload as a user error, not crash on it.
    """

    def __init__(self, file: BinaryIO, budget: int = READ_BUDGET) -> None:
        self._file = file
        self._left = budget
        self.size = file.seek(0, os.SEEK_END)

    def read(self, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes at ``offset``; fewer at the end of the file, none beyond it."""
        if offset < 0 or length <= 0 or offset >= self.size:
            return b""
        length = min(length, self.size - offset)
        if length > self._left:
            raise InspectionError("image headers are too large to inspect safely")
        self._left -= length
        self._file.seek(offset)
        chunks = []
        while length > 0:
            chunk = self._file.read(length)
            if not chunk:
                break
            chunks.append(chunk)
            length -= len(chunk)
        return b"".join(chunks)

    def exact(self, offset: int, length: int, what: str) -> bytes:
        """Exactly ``length`` bytes at ``offset``, or an error saying ``what`` is truncated."""
        data = self.read(offset, length)
        if len(data) < length:
            raise InspectionError(f"{what} is truncated")
        return data


def shown(name: bytes) -> str:
    """A file name taken from an image header, quoted, shortened and with control characters escaped.

    The name is attacker-chosen: it goes into an error message the API returns, so it must stay short and printable.
    """
    text = name.split(b"\0", 1)[0].decode("utf-8", errors="replace")
    if len(text) > _SHOWN_NAME_CHARS:
        text = text[:_SHOWN_NAME_CHARS] + "..."
    return repr(text)
