"""What the command-line tests share: run the CLI in-process, and read its two-line errors."""

from landscape import cli


def run_cli(capsys, *argv):
    """(exit code, stdout, stderr) of `python -m landscape ARGV`, run in this process."""
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def short_error(err: str, *words, notes: bool = False):
    """The `error:` / `fix:` lines of stderr, asserting there are one or two, no traceback, and each of `words`;
    with `notes`, "warning: " and "note: " lines printed before them are allowed and left out."""
    lines = err.strip().splitlines()
    if notes:
        lines = [line for line in lines if not line.startswith(("warning: ", "note: "))]
    assert 1 <= len(lines) <= 2, err
    assert lines[0].startswith("error: ") and "Traceback" not in err, err
    for word in words:
        assert word in err, (word, err)
    return lines
