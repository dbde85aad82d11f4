"""Bounds on untrusted JSON, checked before ``json.loads`` sees it.

``json.loads`` recurses once per nesting level, so a crafted document of a few
hundred thousand brackets must be refused by a scan that does not recurse.
"""

import re

__all__ = ["json_depth"]

# Strings (skipped whole) and brackets. A string runs to its closing quote or, left
# open, to the end of the text: then a match can never fail, so no opening quote is
# scanned twice and the scan is linear. (Requiring the closing quote made every quote
# of an unterminated '"\\"\\"\\"...' rescan the rest: quadratic, 11 s for 32 KB,
# and a safetensors header may hold 100 MB.) An open string is invalid JSON, which
# json.loads then refuses without recursing into it. No possessive quantifiers:
# Python 3.10 has none, and none are needed: at each character at most one of the
# two alternatives inside the string matches.
_TOKENS = re.compile(r'"(?:[^"\\]|\\[\s\S]?)*(?:"|\Z)|[\[\]{}]')


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
