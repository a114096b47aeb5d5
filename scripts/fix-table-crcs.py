#!/usr/bin/env python3
"""Recompute the block CRCs of a table file in place.

Fuzzing builds skip block CRCs (lib/src/format/sstable.c), so an input a fuzzer
finds may carry wrong ones; fix them before adding the input to
tests/fuzz/corpus/ so the normal-build replay reaches the same code.
Walks the footer's index handle and every handle in the index block.
Usage: scripts/fix-table-crcs.py FILE...   (tests/mutation_test.py imports
fix_table)
"""
import struct
import sys


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def mask(c):
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def varint(b, p):
    v = shift = 0
    while True:
        c = b[p]
        p += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, p


def fix_block(b, off, size):
    if off + size + 5 > len(b) - 48:
        return None
    crc = mask(crc32c(bytes(b[off:off + size + 1])))
    b[off + size + 1:off + size + 5] = struct.pack('<I', crc)
    return bytes(b[off:off + size]) if b[off + size] == 0 else None


def fix_table(b):
    """Fix the CRCs of the table in bytearray b in place; a table too broken
    to walk is left as far as it got."""
    try:
        p = len(b) - 48
        _, p = varint(b, p)
        _, p = varint(b, p)
        ioff, p = varint(b, p)
        isize, p = varint(b, p)
        index = fix_block(b, ioff, isize)
        if index is not None:
            n = struct.unpack('<I', index[-4:])[0]
            end = len(index) - 4 - 4 * n
            p = 0
            while 0 <= p < end:
                _, p = varint(index, p)
                nonshared, p = varint(index, p)
                vlen, p = varint(index, p)
                q = p + nonshared
                boff, q = varint(index, q)
                bsize, q = varint(index, q)
                fix_block(b, boff, bsize)
                p += nonshared + vlen
    except (IndexError, struct.error):
        pass


def main():
    for path in sys.argv[1:]:
        b = bytearray(open(path, 'rb').read())
        fix_table(b)
        open(path, 'wb').write(b)


if __name__ == '__main__':
    main()
