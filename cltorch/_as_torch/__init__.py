"""A folder that ``cltorch run`` puts first on ``sys.path`` (and PYTHONPATH): its ``torch``
package installs cltorch as torch, so that processes the program starts (multiprocessing's
spawn and forkserver workers, Python subprocesses) resolve ``import torch`` the same way."""
