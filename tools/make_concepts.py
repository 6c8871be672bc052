"""Write ``idcseg/dicom/concepts.tsv``: what :mod:`idcseg.dicom.codes` needs of pydicom's tables.

pydicom's concept dictionary (``pydicom.sr._concepts_dict``) and SNOMED-RT/CT map
(``pydicom.sr._snomed_dict``) take ~0.35 s to import, on every `find` and `facets` that has a
code filter. idcseg needs only the SCT and DCM concepts (keyword, code value, meaning) and the
SRT↔SCT pairs, so they are written once into a plain table that loads in milliseconds:

    # pydicom 3.0.2                        the version the table was made from
    SCT<TAB>27925004<TAB>Nodule<TAB>Nodule   scheme, code value, keyword, meaning (pydicom's order)
    =<TAB>M-03010<TAB>27925004               a SNOMED-RT code value and its SNOMED-CT twin

Run it after upgrading pydicom: ``python tools/make_concepts.py``
(``tests/test_codes.py`` checks the table against the installed pydicom).
"""

from __future__ import annotations

import sys
from pathlib import Path

TARGET = Path(__file__).resolve().parents[1] / "idcseg" / "dicom" / "concepts.tsv"
SCHEMES = ("SCT", "DCM")


def lines() -> list[str]:
    """The table's lines, from the installed pydicom."""
    import pydicom
    from pydicom.sr._concepts_dict import concepts
    from pydicom.sr._snomed_dict import mapping

    out = [f"# pydicom {pydicom.__version__}"]
    for scheme in SCHEMES:
        for keyword, entries in concepts[scheme].items():
            for value, (meaning, _cids) in entries.items():
                for text in (value, keyword, meaning):
                    if "\t" in text or "\n" in text:
                        raise ValueError(f"a tab or newline in {scheme} {value!r}")
                out.append(f"{scheme}\t{value}\t{keyword}\t{meaning}")
    for srt, sct in mapping["SRT"].items():
        out.append(f"=\t{srt}\t{sct}")
    return out


def main() -> int:
    TARGET.write_text("\n".join(lines()) + "\n", encoding="utf-8")
    print(f"{TARGET}: {TARGET.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
