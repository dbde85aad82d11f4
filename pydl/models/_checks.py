"""Argument checks shared by the model constructors."""

import numbers


def positive_int(value, name):
    """``value`` as an int >= 1, or a TypeError/ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


def int_list(values, name, *, allow=()):
    """A non-empty list of positive ints (or members of ``allow``)."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{name} must be a list, got {type(values).__name__}")
    values = list(values)
    if not values:
        raise ValueError(f"{name} must not be empty")
    return [v if v in allow and not isinstance(v, bool) else positive_int(v, f"{name}[{i}]")
            for i, v in enumerate(values)]
