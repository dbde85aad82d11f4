"""AdamW: Adam with decoupled weight decay (torch.optim.AdamW)."""

from .adam import Adam

__all__ = ["AdamW"]


class AdamW(Adam):
    """Adam whose weight decay shrinks the parameter directly instead of entering the
    gradient: ``param *= 1 - lr * weight_decay`` before each Adam update, so the decay
    does not pass through the moment averages (Loshchilov & Hutter).

    Parameters are those of :class:`Adam`, with ``weight_decay`` defaulting to 1e-2
    (PyTorch's default); ``decoupled_weight_decay`` is always True.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)

    def _check_group(self, group):
        super()._check_group(group)
        group["decoupled_weight_decay"] = True
