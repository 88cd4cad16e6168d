"""The one way in: the `flip` command. Each package owns its subcommand module."""
