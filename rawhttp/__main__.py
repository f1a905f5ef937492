"""`python -m rawhttp`: the same CLI as the `rawhttp` command."""

from rawhttp.cli import main

main()
