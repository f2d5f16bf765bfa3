"""`python -m ccreid.cli` (what torchrun launches)."""

from ccreid.cli import main

main()
