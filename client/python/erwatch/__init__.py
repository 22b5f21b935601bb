"""erwatch: watch representation collapse while a model trains.

Two lines in a training loop:

    mon = erwatch.Monitor(run="simsiam-lr0.05", tag="projector")
    mon.log(step, z1, z2, loss=loss.item())

Each call pushes the batch's embeddings (numpy arrays or torch tensors) to
erwatchd, which computes the collapse metrics server-side and stores them
(see the README of the repository). log() never blocks and never raises
because of the daemon: when it is slow or absent, batches are dropped and
counted. The wire format is schema/protocol.md.
"""

from ._alerts import DEFAULT_HTTP, AlertWarning
from ._monitor import DEFAULT_ENDPOINT, DropWarning, Monitor
from ._protocol import VERSION as PROTOCOL_VERSION

__version__ = "0.1.0"
__all__ = ["Monitor", "DropWarning", "DEFAULT_ENDPOINT", "PROTOCOL_VERSION", "__version__",
           "AlertWarning", "DEFAULT_HTTP"]
