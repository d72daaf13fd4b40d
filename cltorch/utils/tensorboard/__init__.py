"""``cltorch.utils.tensorboard`` (``torch.utils.tensorboard``): importable for programs that
only import it; writing event files needs the tensorboard package, which cltorch does not
bundle."""


class SummaryWriter:
    """Raises: cltorch does not write TensorBoard event files."""

    def __init__(self, *args, **kwargs):
        raise NotImplementedError("torch.utils.tensorboard.SummaryWriter is not supported by "
                                  "cltorch: it does not write TensorBoard event files (log "
                                  "with print, csv or your own writer)")
