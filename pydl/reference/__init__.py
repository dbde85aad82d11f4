"""Pure-NumPy twins of every :mod:`pydl.functional` op, under the same names.

Written for clarity, not speed: they are the oracle the kernels are tested against
and the baseline the benchmarks compare with. They do not validate their input.
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
