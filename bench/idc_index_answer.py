"""Answer one benchmark question with idc-index: ``IDCClient()`` then ``client.sql_query(...)``.

Run by ``cli_cold.py`` in a fresh process of the idc-index venv (``bench/.venv-idc-index``); it is
the idc-index side of the side-by-side cold-start benchmark. It prints the answer as JSON on stdout
in the same shape as ``idcseg ... --format json`` (a list of records) and, on stderr, one line
``BENCH-PHASES {json}`` with the seconds spent importing idc-index, constructing ``IDCClient()``
and running the query (from ``time.perf_counter`` inside the process; interpreter start-up is not
included there but is in the wall time the parent measures).

    bench/.venv-idc-index/bin/python bench/idc_index_answer.py summary
    bench/.venv-idc-index/bin/python bench/idc_index_answer.py series

This file must not import idcseg: it runs in the idc-index venv, which does not have it.
"""

from __future__ import annotations

import json
import math
import sys
import time
from typing import Any

SEG_SOP_CLASSES = ("1.2.840.10008.5.1.4.1.1.66.4", "1.2.840.10008.5.1.4.1.1.66.7")
_SOP_IN = ", ".join(f"'{uid}'" for uid in SEG_SOP_CLASSES)

# The same questions as `idcseg summary` and
# `idcseg series --analysis-result dicom_lidc_idri_nodules --body-part CHEST --limit 20`,
# written against idc-index's `index` table (IDC's series index, one row per series).
# Body part: with an empty idcseg store idcseg knows no segmented series, so it uses the SEG's
# own BodyPartExamined, as here. viewer_url: idcseg also checks whether a study holds slide
# microscopy (then the link is Slim's); that is a second scan of `index`, which costs idc-index
# ~7 s more, so it is left out here to keep the comparison conservative (no LIDC-IDRI study
# holds SM, and cli_cold.py checks that the links come out the same).
QUERIES: dict[str, str] = {
    "summary": f"""
SELECT
  collection_id,
  COUNT(*) AS series_count,
  COUNT(DISTINCT StudyInstanceUID) AS study_count,
  COUNT(DISTINCT PatientID) AS patient_count,
  SUM(series_size_MB) AS size_MB
FROM index
WHERE SOPClassUID IN ({_SOP_IN})
GROUP BY collection_id
ORDER BY series_count DESC, collection_id
""",
    "series": f"""
SELECT
  collection_id, analysis_result_id, PatientID, StudyInstanceUID, SeriesInstanceUID,
  SOPClassUID, SeriesDescription, BodyPartExamined, instanceCount, series_size_MB,
  license_short_name, source_DOI,
  CONCAT('https://viewer.imaging.datacommons.cancer.gov/v3/viewer/?StudyInstanceUIDs=',
         StudyInstanceUID, '&initialSeriesInstanceUID=', SeriesInstanceUID) AS viewer_url
FROM index
WHERE SOPClassUID IN ({_SOP_IN})
  AND LOWER(analysis_result_id) IN ('dicom_lidc_idri_nodules')
  AND UPPER(BodyPartExamined) IN ('CHEST')
ORDER BY collection_id, PatientID, StudyInstanceUID, SeriesInstanceUID
LIMIT 20
""",
}


def _plain(value: Any) -> Any:
    """A JSON-ready value (numpy scalars, NaN/NA as null)."""
    if value is None or isinstance(value, bool | str):
        return value
    if hasattr(value, "item"):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, int | float):
        return value
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def main(argv: list[str]) -> int:
    """Answer the question named in *argv* and print it as JSON."""
    if len(argv) != 1 or argv[0] not in QUERIES:
        print(f"usage: idc_index_answer.py {{{','.join(QUERIES)}}}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    from idc_index import IDCClient

    t1 = time.perf_counter()
    client = IDCClient()
    t2 = time.perf_counter()
    frame = client.sql_query(QUERIES[argv[0]])
    t3 = time.perf_counter()
    records = [
        {column: _plain(value) for column, value in zip(frame.columns, row, strict=True)}
        for row in frame.itertuples(index=False, name=None)
    ]
    json.dump(records, sys.stdout, indent=1)
    sys.stdout.write("\n")
    sys.stdout.flush()
    t4 = time.perf_counter()
    phases = {"import": t1 - t0, "IDCClient()": t2 - t1, "sql_query": t3 - t2, "output": t4 - t3}
    print("BENCH-PHASES " + json.dumps(phases), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
