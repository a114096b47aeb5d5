"""The README's examples as its reader runs them, for the tests that run them.

An example is an indented `$ ` command (continued by a trailing `\\`)
followed by the lines it prints, up to a blank line, a `#` comment or the
next command. Its paths are the reader's own: the demo's generated
checkpoint, or placeholders (`CKPT`, `taxi/model.ckpt-1000`, ...). A test
names each placeholder it fills in one explicit dict, {placeholder: real
path}; a placeholder is swapped only where it is a whole argument (or the
directory part of one: `/mnt/ckpt` in `/mnt/ckpt/dnn/kernel`), in the
command and in the output shown, which then must equal what the command
prints. Everything else is compared as the README has it, so a README
command or output that drifts fails its test.
"""
import os
import re
import shlex

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def section(title):
    """The lines of the README section headed `title` (any level, without
    the #s), up to the next heading."""
    with open(README, encoding="utf-8") as f:
        lines = f.read().splitlines()
    heads = [i for i, line in enumerate(lines) if re.match(r"#{1,6} ", line)]
    for i in heads:
        if lines[i].lstrip("#").strip() == title:
            end = next((j for j in heads if j > i), len(lines))
            return lines[i + 1:end]
    return []


def fill_arg(arg, subs):
    for key, real in subs.items():
        if arg == key or arg.startswith(key + "/"):
            return real + arg[len(key):]
    return arg


def fill_text(line, subs):
    for key, real in subs.items():
        line = re.sub(r"(?<!\S)" + re.escape(key) + r"(?=[/\s]|$)", lambda _: real, line)
    return line


def examples(title, subs):
    """[(command as the README writes it, argv with `subs` filled in,
    output lines shown with `subs` filled in)] of section `title`, in
    order."""
    out = []
    lines = section(title)
    i = 0
    while i < len(lines):
        if not lines[i].startswith("    $ "):
            i += 1
            continue
        text = lines[i][6:]
        while text.endswith("\\") and i + 1 < len(lines):
            i += 1
            text = text[:-1] + " " + lines[i].strip()
        i += 1
        shown = []
        while (i < len(lines) and lines[i].startswith("    ") and lines[i].strip()
               and not lines[i].startswith(("    $ ", "    #"))):
            shown.append(fill_text(lines[i][4:], subs))
            i += 1
        argv = [fill_arg(a, subs) for a in shlex.split(text, comments=True)]
        out.append((text, argv, shown))
    return out


def same(shown, printed):
    """`printed` (lines) is what the README shows; a last line `...` there
    stands for the rest."""
    if shown[-1:] == ["..."]:
        return printed[:len(shown) - 1] == shown[:-1] and len(printed) >= len(shown)
    return printed == shown
