"""Fonts parsed once per process and lent to every invoice PDF.

fpdf2 parses a font file each time a document adds it (about 55 ms for DejaVu Sans, 0.5 s for the CJK
fallback), and when the document is written it subsets that parsed font in place, so a parsed font serves
one document only. Here each font is parsed once per process (:func:`font_template`), and each document
gets a :class:`fpdf.fonts.TTFFont` copied from the template (:func:`lend_font`) whose ``ttfont`` is a light
copy of the parsed one: tables copied shallowly, and every table part fontTools' subsetter changes in
place (glyphs, cmap and kern subtables) copied when it is read. The parsed font is never changed, so a
document's bytes do not depend on which documents the process drew before it (the tests draw documents in
several orders and processes, and compare every embedded glyph with the bundled font's).

The embedded subset keeps one Unicode cmap subtable and the font file's bounding boxes: PDF readers use
neither, and each would cost a pass over the whole font per document.
"""
from __future__ import annotations

import copy
from functools import cache
from pathlib import Path

from fontTools.ttLib import TTFont
from fpdf import FPDF
from fpdf.fonts import SubsetMap, TTFFont

# tables fpdf2 drops from every embedded font before subsetting (fpdf/output.py): not worth copying
_DROPPED = frozenset({"FFTM", "GDEF", "GPOS", "GSUB", "MATH", "hdmx", "meta", "sbix", "CBDT", "CBLC", "EBDT",
                      "EBLC", "EBSC", "SVG ", "CPAL", "COLR"})


class _CopiedOnRead(dict):
    """A glyph table whose glyphs are handed out as copies: the subsetter may rewrite their data."""

    def __getitem__(self, name):
        return copy.copy(dict.__getitem__(self, name))


def _table_copy(tag: str, table):
    """A copy of one parsed table that the subsetter may change without reaching the original."""
    twin = copy.copy(table)
    if tag == "glyf":
        twin.glyphs = _CopiedOnRead(table.glyphs)
    elif tag == "cmap":  # the fullest Windows Unicode subtable: each subtable kept costs a pass per document
        unicode = [sub for sub in table.tables if sub.platformID == 3 and sub.isUnicode()]
        kept = [max(unicode, key=lambda sub: (len(sub.cmap), sub.format))] if unicode else table.tables
        twin.tables = [copy.copy(sub) for sub in kept]
    elif tag == "kern":
        twin.kernTables = [copy.copy(sub) for sub in table.kernTables]
    return twin


def _light_copy(parsed: TTFont) -> TTFont:
    """A font sharing ``parsed``'s unchanged data, for one document's subsetting."""
    # bounding boxes as the font file has them: recomputing them means decoding and re-encoding every glyph
    font = TTFont(recalcTimestamp=False, recalcBBoxes=False)
    font.sfntVersion = parsed.sfntVersion
    font.setGlyphOrder(list(parsed.getGlyphOrder()))
    font._reverseGlyphOrderDict = dict(parsed.getReverseGlyphMap())  # a copy is cheaper than a rebuild
    for tag in parsed.keys():
        if tag != "GlyphOrder" and tag not in _DROPPED:
            font[tag] = _table_copy(tag, parsed[tag])
    return font


@cache
def font_template(path: Path, style: str, collection_font_number: int = 0) -> TTFFont:
    """The font at ``path`` parsed once (every table read), as fpdf2 would add it in ``style``."""
    holder = FPDF()
    holder.add_font("template", style, str(path), collection_font_number=collection_font_number)
    template = next(iter(holder.fonts.values()))
    for tag in template.ttfont.keys():
        template.ttfont[tag]  # read every table now: copies must not read the file later
    return template


def lend_font(pdf: FPDF, family: str, style: str, path: Path, collection_font_number: int = 0) -> None:
    """Add the font at ``path`` to ``pdf`` as ``family``/``style``, like ``pdf.add_font`` but without parsing it."""
    template = font_template(path, style, collection_font_number)
    fontkey = f"{family.lower()}{style}"
    font = copy.copy(template)
    font.i = len(pdf.fonts) + 1
    font.fontkey = fontkey
    font.ttfont = _light_copy(template.ttfont)
    font.missing_glyphs = []
    font.biggest_size_pt = 0
    font.subset = SubsetMap(font)
    pdf.fonts[fontkey] = font
