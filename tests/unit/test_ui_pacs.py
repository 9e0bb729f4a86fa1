"""What one more PACS retrieval may add to the files the Dosimetry page already holds (ui/pacs.py):
one study's bounds in all (prrt_core/dicom/files.py: 1 GiB, 20,000 files), so that retrievals
repeated in one session cannot pile up past them in memory."""

from __future__ import annotations

from prrt_core.dicom.files import MAX_MEMBER_BYTES, MAX_MEMBERS, MAX_UNPACKED_BYTES
from ui.pacs import room_for

MiB = 1024 * 1024


def test_nothing_held_leaves_the_whole_bounds():
    room = room_for([])
    assert (room.total_bytes, room.instance_bytes, room.instances) == (MAX_UNPACKED_BYTES, MAX_MEMBER_BYTES,
                                                                       MAX_MEMBERS)


def test_held_files_are_taken_off_the_bounds():
    held = [(f"f{i}", b"x" * MiB) for i in range(3)]  # 3 files of 1 MiB
    room = room_for(held)
    assert room.total_bytes == 1024 * MiB - 3 * MiB and room.instances == 20_000 - 3
    assert room.instance_bytes == MAX_MEMBER_BYTES  # one instance's bound is its own
