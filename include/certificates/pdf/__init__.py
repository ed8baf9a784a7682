"""One certificate as a PDF: layout, the bundled DejaVu font in subsets, a QR code to verify it.

* ``layout``: ``render_certificate``, what goes where on the page and at what size;
* ``font``: the bundled font, and which characters it can print (``UnrenderableName``);
* ``qr``: the verification URL's QR code, with its own Reed-Solomon error correction;
* ``writer``: the page and the document written as PDF directly, with the font in subsets.
"""

from include.certificates.pdf.font import UnrenderableName, UnrenderableText, unsupported_characters
from include.certificates.pdf.layout import format_event_date, render_certificate
from include.certificates.pdf.qr import qr_matrix

__all__ = ["UnrenderableName", "UnrenderableText", "format_event_date", "qr_matrix", "render_certificate",
           "unsupported_characters"]
