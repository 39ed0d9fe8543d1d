"""Text that ends up in an email refuses the characters that would break it.

A title, a username or an address is written into the headers of the emails the service
sends (Subject, To). Python's email package folds a header at every line boundary that
`str.splitlines` knows (`\\n \\r \\x0b \\x0c \\x1c-\\x1e \\x85 \\u2028 \\u2029`), so any of
them inside a title starts a header line of its own ("Vase\\x0bReply-To: ..."), and `\\n`
makes the message impossible to build at all. The rule here is broader than that list:
header text refuses every control (Cc), format (Cf), line and paragraph separator (Zl, Zp)
and surrogate (Cs) character, so that no invisible character can hide in a subject line.
Text that only reaches a message's body (a description) keeps its line breaks and tabs.
"""

import unicodedata

from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible

HEADER_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
BODY_UNSAFE_CATEGORIES = frozenset({"Cc", "Cs"})

# Format characters that some scripts and emoji need and that no header folding splits on:
# the zero-width non-joiner (Persian, Indic scripts) and joiner (emoji sequences).
_HEADER_ALLOWED = frozenset("\u200c\u200d")
_BODY_ALLOWED = frozenset("\t\n\r")


@deconstructible
class NoControlCharactersValidator:
    """Refuses text holding a character of one of `categories` (Unicode general
    categories), except those in `allowed`. Code `control_characters`."""

    code = "control_characters"

    def __init__(self, categories=HEADER_UNSAFE_CATEGORIES, allowed=_HEADER_ALLOWED) -> None:
        self.categories = frozenset(categories)
        self.allowed = frozenset(allowed)

    def __call__(self, value: str) -> None:
        if value.isprintable():
            return  # fast path: no C* or Z* character but the plain space
        for position, char in enumerate(value):
            if char not in self.allowed and unicodedata.category(char) in self.categories:
                raise ValidationError(
                    "Control or invisible characters are not allowed "
                    "(U+%(codepoint)04X at position %(position)d).",
                    code=self.code,
                    params={"codepoint": ord(char), "position": position},
                )

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, NoControlCharactersValidator)
            and self.categories == other.categories
            and self.allowed == other.allowed
        )


# For text that can reach an email header: a title, a username, an address.
header_text_validator = NoControlCharactersValidator()
# For text that only reaches a message's body: line breaks and tabs are kept.
body_text_validator = NoControlCharactersValidator(BODY_UNSAFE_CATEGORIES, _BODY_ALLOWED)
