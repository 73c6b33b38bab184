"""Byte mutations of seed inputs, the same for the hypothesis strategy and the fuzz script.

A mutation is applied at a position chosen modulo the input's length, so any list of mutations
applies to any seed. The kinds are those damaged disks and hostile writers produce: flipped
bits, overwritten bytes, absurd compact sizes (0xff + 8 bytes), inserted or deleted runs,
truncation and duplication.
"""

from __future__ import annotations

BIG_COMPACT = (b"\xff" + b"\xff" * 7 + b"\x7f", b"\xff" + b"\xff" * 8, b"\xfe\xff\xff\xff\xff",
               b"\xfd\xff\xff", b"\xff\x00\x00\x00\x00\x00\x00\x00\x80")
KINDS = 7
Mutation = tuple[int, int, int]  # kind, position, value


def mutate(seed: bytes, mutations: list[Mutation]) -> bytes:
    data = bytearray(seed)
    for kind, position, value in mutations:
        at = position % (len(data) + 1)
        if kind == 0 and data:  # flip a bit
            at %= len(data)
            data[at] ^= 1 << (value % 8)
        elif kind == 1 and data:  # overwrite a byte
            data[at % len(data)] = value % 256
        elif kind == 2:  # an absurd compact size
            data[at:at + 1] = BIG_COMPACT[value % len(BIG_COMPACT)]
        elif kind == 3:  # insert a short run
            data[at:at] = bytes([value % 256]) * (1 + value % 9)
        elif kind == 4:  # delete a run
            del data[at:at + 1 + value % 64]
        elif kind == 5:  # truncate
            del data[at:]
        elif kind == 6:  # duplicate a run
            data[at:at] = data[at:at + 1 + value % 128]
    return bytes(data)
