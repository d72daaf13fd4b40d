"""``torch.random``: seeding and the generator state; the functions live in
``cltorch.api.random``."""
from .api.random import (Generator, default_generator, get_rng_state,  # noqa: F401
                         initial_seed, manual_seed, seed, set_rng_state)
