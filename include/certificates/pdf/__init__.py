"""One certificate as a PDF: layout, a QR code to verify it, written with the kernel's PDF writer
(``include.common.pdf``: the bundled DejaVu font in subsets, pages written as PDF directly).

* ``layout``: ``render_certificate``, what goes where on the page and at what size;
* ``font``: what the certificate refuses to print (``UnrenderableName``);
* ``qr``: the verification URL's QR code, with its own Reed-Solomon error correction.
"""

from include.certificates.pdf.font import UnrenderableName, UnrenderableText, unsupported_characters
from include.certificates.pdf.layout import format_event_date, render_certificate
from include.certificates.pdf.qr import qr_matrix

__all__ = ["UnrenderableName", "UnrenderableText", "format_event_date", "qr_matrix", "render_certificate",
           "unsupported_characters"]
