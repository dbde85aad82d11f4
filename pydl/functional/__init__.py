"""Stateless ops with validated inputs: the layer between modules and kernels.

Every op ``<name>_forward`` / ``<name>_backward`` here has a compiled kernel of the
same name in ``pydl._ext`` and a NumPy twin of the same name in :mod:`pydl.reference`.
Bad input raises ``TypeError`` or ``ValueError`` naming the argument; past this layer
kernels trust their input.
"""

from .activation import *  # noqa: F401,F403
from .activation import __all__ as _activation_all
from .dense import *  # noqa: F401,F403
from .dense import __all__ as _dense_all
from .loss import *  # noqa: F401,F403
from .loss import __all__ as _loss_all
from .optim import *  # noqa: F401,F403
from .optim import __all__ as _optim_all
from .conv import *  # noqa: F401,F403
from .conv import __all__ as _conv_all

__all__ = [*_dense_all, *_activation_all, *_loss_all, *_optim_all, *_conv_all]
