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
from .pool import *  # noqa: F401,F403
from .pool import __all__ as _pool_all
from .interpolate import *  # noqa: F401,F403
from .interpolate import __all__ as _interpolate_all
from .rnn import *  # noqa: F401,F403
from .rnn import __all__ as _rnn_all
from .norm import *  # noqa: F401,F403
from .norm import __all__ as _norm_all
from .dropout import *  # noqa: F401,F403
from .dropout import __all__ as _dropout_all
from .regression_loss import *  # noqa: F401,F403
from .regression_loss import __all__ as _regression_loss_all
from .margin_loss import *  # noqa: F401,F403
from .margin_loss import __all__ as _margin_loss_all
from .focal_loss import *  # noqa: F401,F403
from .focal_loss import __all__ as _focal_loss_all
from .boxes import *  # noqa: F401,F403
from .boxes import __all__ as _boxes_all
from .embedding import *  # noqa: F401,F403
from .embedding import __all__ as _embedding_all
from .attention import *  # noqa: F401,F403
from .attention import __all__ as _attention_all
from .conv import *  # noqa: F401,F403
from .conv import __all__ as _conv_all
from .group_norm import *  # noqa: F401,F403
from .group_norm import __all__ as _group_norm_all
from .style_loss import *  # noqa: F401,F403
from .style_loss import __all__ as _style_loss_all

__all__ = [
    *_dense_all, *_activation_all, *_loss_all, *_optim_all, *_pool_all,
    *_interpolate_all, *_rnn_all, *_norm_all, *_dropout_all, *_regression_loss_all,
    *_margin_loss_all, *_focal_loss_all, *_boxes_all, *_embedding_all, *_attention_all,
    *_conv_all, *_group_norm_all, *_style_loss_all,
]
