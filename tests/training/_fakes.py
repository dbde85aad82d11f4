"""Small stand-ins for the lr schedulers (written on another branch) with PyTorch's
interface: step(), get_last_lr(), state_dict()/load_state_dict(), .optimizer."""


class HalvingLR:
    """Halve every group's learning rate every ``every`` epochs (a StepLR)."""

    def __init__(self, optimizer, every=2):
        self.optimizer = optimizer
        self.every = every
        self.last_epoch = 0
        self.base_lrs = [g["lr"] for g in optimizer.param_groups]

    def step(self):
        self.last_epoch += 1
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = base * 0.5 ** (self.last_epoch // self.every)

    def get_last_lr(self):
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self):
        return {"last_epoch": self.last_epoch, "base_lrs": list(self.base_lrs),
                "every": self.every}

    def load_state_dict(self, state):
        self.last_epoch = state["last_epoch"]
        self.base_lrs = list(state["base_lrs"])
        self.every = state["every"]


class ReduceLROnPlateau:
    """Records the metrics it is stepped with; divides the rate by 10 on no improvement."""

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.best = float("inf")
        self.seen = []

    def step(self, metrics, epoch=None):
        self.seen.append(metrics)
        if metrics < self.best:
            self.best = metrics
        else:
            for g in self.optimizer.param_groups:
                g["lr"] /= 10

    def state_dict(self):
        return {"best": self.best, "seen": list(self.seen)}

    def load_state_dict(self, state):
        self.best, self.seen = state["best"], list(state["seen"])
