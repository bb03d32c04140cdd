#!/usr/bin/env python3
"""List C files over ~800 lines and C functions over ~100 lines (issue 10's "Done means").

    scripts/sizes.py [PATH...]       (default: src tests/tools bench)

A function is a line at column 0 that opens a definition ("name(" ... ")" then "{" at column 0,
the project's clang-format style) up to its "}" at column 0; its length counts every line from
the signature to that brace. A file or function is "explained" when the comment above it (for a
file, its head comment) says why with the words "Over 100 lines" / "Over 800 lines"; those are
listed apart. Exits 1 when anything oversized is not explained.
"""
import os
import re
import sys

FILE_MAX, FUNC_MAX = 800, 100
SIG = re.compile(r'^[A-Za-z_][\w \t\*]*?\b([A-Za-z_]\w*)\s*\(')


def c_files(paths):
    for p in paths:
        if os.path.isfile(p):
            yield p
            continue
        for root, dirs, files in os.walk(p):
            dirs[:] = sorted(d for d in dirs if not d.startswith('build'))
            for f in sorted(files):
                if f.endswith(('.c', '.h')):
                    yield os.path.join(root, f)


def comment_above(lines, i):
    """The comment block that ends right above line i (blank lines not allowed between)."""
    j = i - 1
    while j >= 0 and lines[j].strip() and (lines[j].lstrip().startswith(('/*', '*', '//'))
                                           or lines[j].rstrip().endswith('*/')):
        j -= 1
    return '\n'.join(lines[j + 1:i])


def functions(lines):
    i = 0
    while i < len(lines):
        m = SIG.match(lines[i])
        if m and not lines[i].startswith(('static const', 'typedef', 'struct ', 'enum ')) \
                or (m and lines[i].startswith('struct ') and '(' in lines[i]):
            # the signature may span lines; the body opens with "{" at column 0
            j = i
            while j < len(lines) and not lines[j].rstrip().endswith((')', '{')) \
                    and not lines[j].rstrip().endswith(';'):
                j += 1
            if j + 1 < len(lines) and lines[j].rstrip().endswith(')') and lines[j + 1] == '{':
                k = j + 2
                while k < len(lines) and lines[k] != '}':
                    k += 1
                yield m.group(1), i, k
                i = k + 1
                continue
        i += 1


def main(argv):
    paths = argv[1:] or ['src', 'tests/tools', 'bench']
    bad = ok = 0
    for path in c_files(paths):
        with open(path, encoding='utf-8', errors='replace') as f:
            lines = f.read().split('\n')
        n = len(lines) - (lines[-1] == '')
        if n > FILE_MAX:
            why = 'Over 800 lines' in '\n'.join(lines[:40])
            print(f'{"explained" if why else "OVERSIZED"} file {path}: {n} lines')
            bad += not why
            ok += why
        for name, start, end in functions(lines):
            length = end - start + 1
            if length > FUNC_MAX:
                why = 'Over 100 lines' in comment_above(lines, start)
                print(f'{"explained" if why else "OVERSIZED"} function {path}:{start + 1} '
                      f'{name}(): {length} lines')
                bad += not why
                ok += why
    print(f'{bad} oversized, {ok} explained')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
