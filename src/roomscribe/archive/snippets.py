"""Snippets: a matching segment as safe HTML, the words the query looked for in `<mark>`."""

from __future__ import annotations

import html
from typing import Any

from whoosh import highlight, query

from roomscribe.archive.analysis import analyzer
from roomscribe.archive.query_language import is_filter


class _MarkFormatter(highlight.Formatter):  # type: ignore[misc]
    """Escapes everything, marks matches: the snippet is safe to drop into a page."""

    between = " … "

    def _text(self, text: str) -> str:
        return html.escape(text)

    def format_token(self, text: str, token: Any, replace: bool = False) -> str:
        return f"<mark>{html.escape(highlight.get_text(text, token, replace))}</mark>"


def marked_words(q: query.Query, negated: bool = False) -> set[str]:
    """The words of the text the query looks for (not those it excludes)."""
    if isinstance(q, query.Not):
        return marked_words(q.query, not negated)
    if negated or is_filter(q):
        return set()
    if isinstance(q, query.Term):
        return {q.text} if q.fieldname == "text" else set()
    if isinstance(q, query.Phrase):
        return set(q.words) if q.fieldname == "text" else set()
    return set().union(*(marked_words(c) for c in q.children())) if not q.is_leaf() else set()


def snippet(text: str, words: frozenset[str], lang: str) -> str:
    """`words` are index terms (`archive.analysis`), so `text` is analysed in its language."""
    if words:
        marked: str = highlight.highlight(text, words, analyzer(lang), highlight.WholeFragmenter(),
                                          _MarkFormatter(), top=1)
        if marked:
            return marked
    return html.escape(text)
