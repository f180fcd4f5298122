"""Report tables: text is escaped, long sentences wrap inside their cell."""

from __future__ import annotations

import pandas as pd

from hierlmm.document.html import table_html


def test_text_is_escaped_and_long_text_wraps() -> None:
    frame = pd.DataFrame({
        "parameter": ["<b>x</b>", "y"],
        "mean": [1.23456, None],
        "description": ["correlation of two observations in the same Subject, long", None],
        "<t>": ["a", "b"],
    })
    page = table_html(frame)
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page
    assert "&lt;t&gt;" in page and "<t>" not in page
    assert '<span class="wrap">correlation of two observations' in page
    assert page.count('class="wrap"') == 1  # the description column; missing cells stay empty
    assert "1.235" in page
