"""Minimal PDFs made on the spot, so that no binary fixture sits in the repository.

`minimal_pdf(lines, font="LimonS1")` draws each line in one Type 1 font with
WinAnsiEncoding: the font is not embedded, only named, which is all a text
extractor reads. Legacy Khmer PDFs look like this to pypdf: Limon fonts map
Khmer glyphs onto cp1252 code points.
"""

from __future__ import annotations


def _escape(data: bytes) -> bytes:
    return data.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def minimal_pdf(lines: list[str], font: str = "Helvetica") -> bytes:
    """A one-page PDF showing `lines` (cp1252 text) in the named font."""
    shown = b" ".join(b"(" + _escape(line.encode("cp1252")) + b") '" for line in lines)
    stream = b"BT /F1 14 Tf 72 760 Td 18 TL " + shown + b" ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /"
        + font.encode("ascii")
        + b" /Encoding /WinAnsiEncoding >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)
