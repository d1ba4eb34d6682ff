#!/usr/bin/env python3
"""Print the list digest (filelistd's ETag) of each list file given, as docs/FORMAT.md
defines it, so that anyone can check a list they fetched against the ETag it came with:

    Scripts/list-digest.py fullfiletimelist-fedora
    curl -sI https://origin/fedora/fullfiletimelist-fedora | grep -i etag

The rule, in short: the list is cut into segments at line ends, after every empty line,
and after the last line of a run of lines with the same key when the first 6 bits of the
SHA-256 of that key are zero; a line's key is its last TAB-separated field with a
leading "./" dropped, up to its last "/". The digest is the SHA-256 of the segments'
SHA-256 digests, in order.

Written apart from the Swift implementation, from the rule: the tests compare the two.
"""
import hashlib
import sys

KEY_BITS = 6


def key(line):
    field = line.rsplit(b"\t", 1)[-1]
    if field.startswith(b"./"):
        field = field[2:]
    slash = field.rfind(b"/")
    return field[:slash] if slash >= 0 else b""


def ends_segment(k):
    return hashlib.sha256(k).digest()[0] >> (8 - KEY_BITS) == 0


def segments(data):
    """(offset, length) of each segment."""
    lines = data.split(b"\n")
    # split() leaves an empty last item when the data ends with a newline.
    pieces = [l + b"\n" for l in lines[:-1]] + ([lines[-1]] if lines[-1] else [])
    result = []
    start = offset = 0
    last_key = None
    for piece in pieces:
        content = piece[:-1] if piece.endswith(b"\n") else piece
        k = key(content)
        if last_key is not None and k != last_key and ends_segment(last_key) and offset > start:
            result.append((start, offset - start))
            start = offset
        last_key = k
        offset += len(piece)
        if content == b"":
            result.append((start, offset - start))
            start = offset
            last_key = None
    if offset > start:
        result.append((start, offset - start))
    return result


def digest(data):
    outer = hashlib.sha256()
    for start, length in segments(data):
        outer.update(hashlib.sha256(data[start:start + length]).digest())
    return outer.hexdigest()


def main():
    if len(sys.argv) < 2:
        print(__doc__.strip().split("\n")[0], file=sys.stderr)
        print("usage: list-digest.py FILE...", file=sys.stderr)
        return 2
    for name in sys.argv[1:]:
        try:
            with open(name, "rb") as f:
                data = f.read()
        except OSError as error:
            print("list-digest.py: %s: %s" % (name, error.strerror), file=sys.stderr)
            return 1
        print("%s  %s" % (digest(data), name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
