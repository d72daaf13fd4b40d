"""``cltorch.hub`` (``torch.hub``): importable; cltorch does not download models."""
import os

_dir = [os.path.join(os.path.expanduser("~"), ".cache", "cltorch", "hub")]


def get_dir() -> str:
    return _dir[0]


def set_dir(d) -> None:
    _dir[0] = os.fspath(d)


def load(*args, **kwargs):
    raise NotImplementedError("torch.hub.load is not supported by cltorch: it runs code and "
                              "weights fetched from a hub; build the model in your program and "
                              "load a state dict with torch.load")


list = help = load_state_dict_from_url = download_url_to_file = load
