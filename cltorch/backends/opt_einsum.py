"""``torch.backends.opt_einsum``: einsum contracts operands left to right."""
enabled = False
strategy = None


def is_available() -> bool:
    return False
