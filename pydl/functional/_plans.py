"""Per-shape plans: what a call's checks computed, kept for the next call with the same
shapes, dtypes and arguments (pydl.functional's conv, dense and pooling paths)."""


def remember(cache, key, value, limit):
    """``cache[key] = value``, emptying ``cache`` first once it holds ``limit`` entries:
    the caches stay bounded however many shapes a program goes through, and a program
    that reuses a few shapes refills them after one miss each."""
    if len(cache) >= limit:
        cache.clear()
    cache[key] = value
