"""Bounds on untrusted JSON, checked before ``json.loads`` sees it.

``json.loads`` recurses once per nesting level, so a crafted document of a few
hundred thousand brackets must be refused by a scan that does not recurse.
"""

import re

__all__ = ["json_depth"]

# Strings (skipped whole) and brackets. No possessive quantifiers: Python 3.10 has none,
# and the two alternatives inside the string cannot both match a character, so the
# pattern does not backtrack badly.
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def json_depth(text, limit):
    """Nesting depth of the JSON ``text`` (strings skipped), stopping past ``limit``."""
    depth = deepest = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        elif token in "]}":
            depth -= 1
    return deepest
