"""CLI command groups, one module each, discovered by :mod:`hdc_toolkit.cli`.

A module here defines ``register(subparsers)``, adds its parser(s) and sets ``handler`` with
``parser.set_defaults(handler=fn)``; ``fn(args) -> int`` returns the exit code. ``args.environ`` holds
the environment. Import heavy packages inside handlers only.
"""
