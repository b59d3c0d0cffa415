"""A module next to the program in the `main:` directory: the program must import it as under the CLI."""


def queue_name(stage: str) -> str:
    return f"orders-{stage}"
