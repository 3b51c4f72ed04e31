"""`python -m ffscribe.cli` runs the same command as `transcribe`."""

from ffscribe.cli.app import main

if __name__ == "__main__":
    main()
