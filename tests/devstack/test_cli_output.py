"""The CLI prints file names and document text as they are: never as Rich markup."""

from __future__ import annotations

from docpipe.devstack import cli


def test_brackets_in_names_and_text_are_printed_verbatim() -> None:
    for console in (cli.out, cli.err):
        with console.capture() as captured:
            console.print("  [leave-zh.md]  [bold]not bold[/bold] [link=https://evil.test]x[/link]")
        assert captured.get() == (
            "  [leave-zh.md]  [bold]not bold[/bold] [link=https://evil.test]x[/link]\n"
        )
