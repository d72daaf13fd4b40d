"""``python -m cltorch.bench``: the same as ``cltorch bench``."""
import sys

from . import main

sys.exit(main())
