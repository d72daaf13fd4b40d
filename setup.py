"""The one thing setup.cfg cannot say: ``kernels_cl/`` stays a top-level source folder (the
design card's layout) and installs inside the package, as ``cltorch.kernels_cl``."""
from setuptools import find_packages, setup

setup(packages=find_packages(include=["cltorch", "cltorch.*"]) + ["cltorch.kernels_cl"],
      package_dir={"cltorch.kernels_cl": "kernels_cl"})
