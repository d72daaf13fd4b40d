"""``torch.backends.mkldnn``: flags accepted (cltorch does not use oneDNN)."""
enabled = True


def is_available() -> bool:
    return False
