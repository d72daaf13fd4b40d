"""The benchmark suite from a source tree: the same as ``cltorch bench`` (see cltorch/bench/).

    python benchmarks/run.py [--quick] [--filter TEXT] [--device PREFIX] [--threads N] ...
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from cltorch.bench import main  # noqa: E402  (the source tree first on the path)

if __name__ == "__main__":
    sys.exit(main())
