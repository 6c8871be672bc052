"""Answer one benchmark question with idc-index: ``IDCClient()`` then ``client.sql_query(...)``.

Run by ``cli_cold.py`` and ``seg_index_filters.py`` in a fresh process of the idc-index venv
(``bench/.venv-idc-index``); it is the idc-index side of the side-by-side cold-start benchmarks.
It prints the answer as JSON on stdout in the same shape as ``idcseg ... --format json`` (a list
of records) and, on stderr, one line ``BENCH-PHASES {json}`` with the seconds spent importing
idc-index, constructing ``IDCClient()``, fetching the extra indexes the question needs
(``fetch_index``) and running the query (from ``time.perf_counter`` inside the process;
interpreter start-up is not included there but is in the wall time the parent measures), and one
line ``BENCH-INFO {json}`` saying where each fetched index was read from.

    bench/.venv-idc-index/bin/python bench/idc_index_answer.py summary
    bench/.venv-idc-index/bin/python bench/idc_index_answer.py series
    bench/.venv-idc-index/bin/python bench/idc_index_answer.py seg_liver_automatic --refuse-network
    bench/.venv-idc-index/bin/python bench/idc_index_answer.py seg_liver_automatic --limit 20

``--limit N`` appends ``LIMIT N`` to the query (for a question that has none).
``--refuse-network`` refuses (and records) every socket connection and DNS lookup this Python
process makes, as ``idc_index_offline_check.py`` does; the process then exits 1 if idc-index tried
the network at all. ``fetch_index("seg_index")`` reads ``seg_index.parquet`` from idc-index's
data folder (``platformdirs.user_data_dir("idc_index_data", "IDC", version=<idc-index-data>)``,
i.e. ``$XDG_DATA_HOME/idc_index_data/<version>/`` on Linux) when the file exists there, and
downloads it from IDC's GitHub release otherwise.

This file must not import idcseg: it runs in the idc-index venv, which does not have it.
"""

from __future__ import annotations

import json
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
    # `idcseg series --structure Liver --algorithm-type AUTOMATIC`: SEG series whose seg_index
    # SegmentedPropertyType_CodeMeanings holds "liver" (any case, the whole meaning) and whose
    # comma-joined AlgorithmType has the token AUTOMATIC (not SEMIAUTOMATIC). Columns as idcseg
    # computes them from `index` and `seg_index`; idcseg's segmented_Modality and the body part
    # of the segmented series (a second scan of `index`) and its slide-microscopy check for the
    # viewer link (a third) are left out, as for the series question above: conservative.
    "seg_liver_automatic": f"""
SELECT
  i.collection_id, i.analysis_result_id, i.PatientID, i.StudyInstanceUID, i.SeriesInstanceUID,
  i.SOPClassUID, i.SeriesDescription,
  s.SegmentationType, s.total_segments, s.AlgorithmType, s.AlgorithmName,
  NULLIF(ARRAY_TO_STRING(s.SegmentedPropertyType_CodeMeanings, ', '), '') AS structures,
  s.segmented_SeriesInstanceUID,
  i.instanceCount, i.series_size_MB, i.license_short_name, i.source_DOI,
  CONCAT('https://viewer.imaging.datacommons.cancer.gov/v3/viewer/?StudyInstanceUIDs=',
         i.StudyInstanceUID, '&initialSeriesInstanceUID=', i.SeriesInstanceUID) AS viewer_url
FROM index AS i
JOIN seg_index AS s ON s.SeriesInstanceUID = i.SeriesInstanceUID
WHERE i.SOPClassUID IN ({_SOP_IN})
  AND list_contains(list_transform(s.SegmentedPropertyType_CodeMeanings, lambda v: lower(v)),
                    'liver')
  AND list_contains(string_split(s.AlgorithmType, ','), 'AUTOMATIC')
ORDER BY i.collection_id NULLS FIRST, i.PatientID NULLS FIRST, i.StudyInstanceUID NULLS FIRST,
         i.SeriesInstanceUID NULLS FIRST
""",
}
# Extra indexes a question needs: fetch_index(name) before the query.
FETCH: dict[str, tuple[str, ...]] = {"seg_liver_automatic": ("seg_index",)}


def main(argv: list[str]) -> int:
    """Answer the question named in *argv* and print it as JSON."""
    refuse = "--refuse-network" in argv
    argv = [a for a in argv if a != "--refuse-network"]
    limit = None
    if "--limit" in argv[:-1]:
        at = argv.index("--limit")
        limit = int(argv[at + 1])
        del argv[at : at + 2]
    if len(argv) != 1 or argv[0] not in QUERIES:
        print(
            f"usage: idc_index_answer.py {{{','.join(QUERIES)}}} [--refuse-network] [--limit N]",
            file=sys.stderr,
        )
        return 2
    attempts: list[str] = []
    if refuse:
        from idc_index_offline_check import attempts, refuse_network

        refuse_network()
    question = argv[0]
    t0 = time.perf_counter()
    from idc_index import IDCClient

    t1 = time.perf_counter()
    client = IDCClient()
    t2 = time.perf_counter()
    info: dict[str, Any] = {}
    for name in FETCH.get(question, ()):
        client.fetch_index(name)
        overview = client.indices_overview[name]
        info[name] = {
            "file_path": overview["file_path"],
            "installed": overview["installed"],
            "rows": None if getattr(client, name, None) is None else len(getattr(client, name)),
        }
    t3 = time.perf_counter()
    sql = QUERIES[question] + (f"LIMIT {limit}\n" if limit is not None else "")
    frame = client.sql_query(sql)
    t4 = time.perf_counter()
    # pandas' own JSON writer (C): NaN/NA become null, numpy scalars plain numbers; the fastest
    # way from a DataFrame to idcseg's JSON shape, so the output step favours idc-index.
    sys.stdout.write(frame.to_json(orient="records", double_precision=15) + "\n")
    sys.stdout.flush()
    t5 = time.perf_counter()
    phases = {"import": t1 - t0, "IDCClient()": t2 - t1}
    if FETCH.get(question):
        phases["fetch_index"] = t3 - t2
    phases.update({"sql_query": t4 - t3, "output": t5 - t4})
    print("BENCH-PHASES " + json.dumps(phases), file=sys.stderr)
    info["network_refused"] = refuse
    info["network_attempts"] = list(attempts)
    print("BENCH-INFO " + json.dumps(info), file=sys.stderr)
    if attempts:
        print("NETWORK ATTEMPTED:", *attempts, sep="\n  ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
