"""Invoice PDFs drawn on every core: documents go in chunks to a pool of processes, bytes come back in order.

A PDF depends only on its document (fonts are parsed once per process and never changed, see
:mod:`billing_lib.invoicing.pdf_fonts`), so the pool writes the same bytes as one process would. Small
batches are drawn in this process: starting the workers (about a second each) would cost more than it saves.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

from billing_lib.core.processes import spawned_pool, usable_cores
from billing_lib.errors import ParameterError
from billing_lib.invoicing.documents import InvoiceDocument
from billing_lib.invoicing.pdf import invoice_pdf

CHUNK = 32  # documents per task: a few hundred milliseconds of drawing against one round trip
POOL_FROM = 128  # fewer documents are drawn in this process


def _draw_chunk(docs: list[InvoiceDocument]) -> list[bytes]:
    return [invoice_pdf(doc) for doc in docs]


def draw_pdfs(docs: Sequence[InvoiceDocument], workers: int | None = None) -> Iterator[bytes]:
    """The PDF of each of ``docs``, in their order, drawn by ``workers`` processes (default: one per usable
    core) when there are enough documents to share out."""
    workers = usable_cores() if workers is None else workers
    if workers < 1:
        raise ParameterError(f"workers must be 1 or more, not {workers}")
    if workers == 1 or len(docs) < POOL_FROM:
        yield from map(invoice_pdf, docs)
        return
    chunks = [list(docs[start:start + CHUNK]) for start in range(0, len(docs), CHUNK)]
    pool = spawned_pool(min(workers, len(chunks)))
    try:
        for drawn in pool.map(_draw_chunk, chunks):
            yield from drawn
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
