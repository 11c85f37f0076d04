"""The commands, one module each: `NAME`, `register(subparsers)` (its parser, from
imagepipe.commands.options) and `run(args, target) -> ExitCode`; `STACK = True` asks for
a Target (the stack the shared arguments name) and `NEEDS` for the outputs that, given
as flags or variables, spare running Pulumi. To add a command, write such a module and
list it in imagepipe.cli.COMMANDS. Heavy imports belong inside `run`, so `--help` stays
fast.
"""
