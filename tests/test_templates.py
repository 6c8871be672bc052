"""Every template renders to BigQuery SQL that sqlglot parses, with values only as parameters."""

from __future__ import annotations

import itertools
import re

import pytest
import sqlglot

from idcseg.query import render, spec
from idcseg.query.engines.duckdb import transpile

HOSTILE = "x'; DROP TABLE t; -- `\\ \" ü"


def all_filters() -> list[spec.SeriesFilter]:
    """Each filter alone, none, and all together (with hostile values)."""
    full = spec.SeriesFilter.build(
        collection=HOSTILE,
        analysis_result=HOSTILE,
        patient=HOSTILE,
        study="1.2.3",
        series="1.2.4",
        body_part=HOSTILE,
        description=HOSTILE,
        sop_class="labelmap",
    )
    singles = [spec.SeriesFilter.build()]
    for name in ("collection", "analysis_result", "patient", "body_part", "description"):
        singles.append(spec.SeriesFilter.build(**{name: HOSTILE}))
    singles.append(spec.SeriesFilter.build(study="1.2.3"))
    singles.append(spec.SeriesFilter.build(series="1.2.4"))
    singles.append(
        spec.SeriesFilter.build(
            structure=HOSTILE,
            category="Tissue",
            anatomy="Liver",
            algorithm_type="manual",
            algorithm_name=HOSTILE,
            min_segments=2,
            source_modality="ct",
        )
    )
    return [*singles, full]


def measurement_filters() -> list[spec.MeasurementFilter]:
    """No filter, each filter, and most together (with hostile values)."""
    return [
        spec.MeasurementFilter.build(),
        spec.MeasurementFilter.build(kind="qualitative", quantity=HOSTILE),
        spec.MeasurementFilter.build(quantity="SRT:G-D705", min=1, max=2),
        spec.MeasurementFilter.build(quantity=HOSTILE, max="3", unit="mm3"),
        spec.MeasurementFilter.build(
            quantity=["Volume", "SCT:118565006"],
            evaluation=[f"Malignancy={HOSTILE}", "Malignancy~4 out", "RadLex:RID36042=x:1"],
        ),
        spec.MeasurementFilter.build(evaluation=[f"{HOSTILE}~{HOSTILE}", "Subtlety=Obvious"]),
    ]


def all_queries() -> list[spec.Query]:
    queries = [
        spec.viewer_urls_query("1.2.3"),
        spec.viewer_urls_query("1.2.3", ["1.2.4"]),
        spec.Query("info.sql"),
        spec.Query("fetch_targets.sql", {}, {"series": ["1.2.4"]}),
        spec.download_series_query(["1.2.4", "1.2.5"]),
        spec.series_by_uuid_query(["6079cc3b-4b0f-41ec-bdbb-c6e754e88229"]),
        spec.study_series_query(["1.2.4"]),
        spec.citations_query(["1.2.4"]),
        spec.Query(
            "measurement_targets.sql",
            {},
            {"series": ["1.2.4"], "sr_sop_class_uids": list(spec.SR_SOP_CLASS_UIDS)},
        ),
        spec.known_names_query(),
    ]
    segment_filters = [
        spec.SegmentFilter.build(),
        spec.SegmentFilter.build(structure="SCT:27925004"),
        spec.SegmentFilter.build(
            structure=HOSTILE,
            category="Tissue",
            anatomy=["Liver", "SRT:T-62000"],
            modifier="Left",
            algorithm_type=["automatic", "MANUAL"],
            algorithm_name=HOSTILE,
        ),
    ]
    series_filters = [
        spec.SeriesFilter.build(),
        spec.SeriesFilter.build(collection=HOSTILE, series="1.2.4", description=HOSTILE),
    ]
    for f, g, limit in itertools.product(series_filters, segment_filters, (None, 5)):
        queries.append(spec.find_query(f, g, "segment", limit))
        queries.append(spec.find_query(f, g, "series", limit))
        for by in spec.FACETS:
            queries.append(spec.facets_query(f, g, by, limit))
        queries.append(spec.sync_query(f, g))
        queries.append(spec.sync_measurements_query(f, g))
    plain = (series_filters[0], segment_filters[0])
    full = (series_filters[-1], segment_filters[-1])
    for m in measurement_filters():  # the big template: each filter, alone and with the rest
        queries.append(spec.measurements_query(*plain, m))
        queries.append(spec.measurements_query(*full, m, 5, linked=True))
    for f, limit in itertools.product(all_filters(), (None, 5)):
        queries.append(spec.series_query(f, limit))
        queries.append(spec.summary_query(f, "analysis_result", limit))
        queries.append(spec.summary_query(f, "collection", limit))
        queries.append(spec.random_query(f, n=3, seed=HOSTILE))
        for by in spec.SERIES_FACETS:
            queries.append(spec.series_facets_query(f, by, limit))
    return queries


def test_every_template_is_covered() -> None:
    used = {q.template.removesuffix(".sql") for q in all_queries()}
    assert used == set(render.template_names())


@pytest.mark.parametrize("target", render.TARGETS)
def test_templates_parse_as_bigquery_and_hold_no_values(target: str) -> None:
    dataset = "idc_v25"  # the dataset only names the tables (test_dataset_names_reach_the_sql)
    for query in all_queries():
        sql = render.render(query, dataset=dataset, target=target)
        assert sqlglot.parse_one(sql, read="bigquery") is not None
        # values never reach the SQL text
        assert "DROP TABLE" not in sql and "1.2.3" not in sql and "ü" not in sql
        # every parameter bound is used, every @name used is bound
        body = "\n".join(line for line in sql.splitlines() if not line.startswith("--"))
        used = set(re.findall(r"@([a-z_][a-z_0-9]*)", body))
        assert used == set(query.params), (query.template, used, set(query.params))
        # IDC's tables by their dataset; embedded, series-level facts may come from the
        # catalog's own view of the same index (local.main.series_index)
        assert f"`bigquery-public-data.{dataset}." in sql or (
            target != "bigquery" and "`local.main.series_index`" in sql
        ), query.template
        assert transpile(sql)


@pytest.mark.parametrize("dataset", ["idc_current", "idc_v12", "idc_v25"])
def test_dataset_names_reach_the_sql(dataset: str) -> None:
    first_of_each = {q.template: q for q in reversed(all_queries())}.values()
    assert len(first_of_each) == len(render.template_names())
    for query in first_of_each:
        sql = render.render(query, dataset=dataset, target="bigquery")
        body = "\n".join(line for line in sql.splitlines() if not line.startswith("--"))
        tables = re.findall(r"`bigquery-public-data\.([a-z0-9_]+)\.", body)
        assert tables and set(tables) == {dataset}, (query.template, set(tables))


def test_each_template_has_a_header_comment() -> None:
    for name in render.template_names():
        text = (render.template_dir() / f"{name}.sql").read_text()
        assert text.startswith(f"-- {name}.sql — "), name
        assert "Parameters" in text and "Returns" in text, name


def test_bigquery_rendering_aggregates_dicom_all_to_series_level() -> None:
    sql = render.render(spec.series_query(spec.SeriesFilter.build()), target="bigquery")
    assert "GROUP BY SeriesInstanceUID" in sql and "COUNT(SOPInstanceUID) AS instanceCount" in sql
    random_sql = render.render(spec.random_query(spec.SeriesFilter.build()))
    body = "\n".join(line for line in random_sql.splitlines() if not line.startswith("--"))
    assert "RAND()" not in body and "TO_HEX(MD5(CONCAT(@seed, StudyInstanceUID)))" in body


@pytest.mark.parametrize("bad", ["idc_v", "v", "idc_v25; DROP", "idc_v25`", "bigquery", "-1", ""])
def test_dataset_names_are_validated(bad: str) -> None:
    with pytest.raises(spec.UsageError):
        render.render(spec.series_query(spec.SeriesFilter.build()), dataset=bad)


@pytest.mark.parametrize(
    ("given", "name"),
    [(25, "idc_v25"), ("v7", "idc_v7"), ("current", "idc_current"), (None, "idc_current")],
)
def test_dataset_names_normalise(given: object, name: str) -> None:
    assert spec.validate_dataset(given) == name  # type: ignore[arg-type]


OLD_SEGMENTATIONS = {  # IDC v1–v12: no study/series UIDs, algorithm name or viewer_url
    "segmentations": {
        "PatientID",
        "SOPInstanceUID",
        "FrameOfReferenceUID",
        "SegmentNumber",
        "SegmentAlgorithmType",
        "TrackingUID",
        "TrackingID",
        "SegmentedPropertyCategory",
        "SegmentedPropertyType",
        "AnatomicRegion",
        "AnatomicRegionModifier",
    },
}


def test_older_releases_adapt_or_name_the_missing_column() -> None:
    f, g = spec.SeriesFilter.build(), spec.SegmentFilter.build(structure="Liver")
    sql = render.render(spec.find_query(f, g), dataset="idc_v12", columns=OLD_SEGMENTATIONS)
    assert "inst.SeriesInstanceUID" in sql  # series UIDs come from dicom_all by SOPInstanceUID
    assert "seg.SegmentationType" not in sql and "CAST(NULL AS STRING) AS SegmentationType" in sql
    sqlglot.parse_one(sql, read="bigquery")
    with pytest.raises(
        spec.UsageError, match="idc_v12 has no column segmentations.SegmentAlgorithmName"
    ):
        render.render(
            spec.find_query(f, spec.SegmentFilter.build(algorithm_name="nnU-Net")),
            dataset="idc_v12",
            columns=OLD_SEGMENTATIONS,
        )


def test_label_maps_reach_bigquery_through_dicom_all() -> None:
    sql = render.render(spec.find_query(spec.SeriesFilter.build(), spec.SegmentFilter.build()))
    assert "CROSS JOIN UNNEST(d.SegmentSequence) AS seq" in sql
    assert "d.SOPClassUID = '1.2.840.10008.5.1.4.1.1.66.7'" in sql
    duck = render.render(
        spec.find_query(spec.SeriesFilter.build(), spec.SegmentFilter.build()), target="duckdb"
    )
    assert "66.7" not in duck  # the local store holds label maps' rows itself


@pytest.mark.parametrize("version", [6, 12, 13, 20, 23, 24, 25])
def test_printed_sql_fits_each_release(version: int) -> None:
    """`idcseg sql --idc-version N` renders for release N's `segmentations` columns, the same
    ones the emulator's datasets are built with (tests/bqemulator.py, from IDC's view SQL)."""
    from idcseg.query.eras import known_columns
    from tests.bqemulator import segmentations_schema

    columns = known_columns(f"idc_v{version}")
    assert columns is not None and known_columns("idc_current") is None
    fields = segmentations_schema(version)
    top = {f.name for f in fields} | {f"{f.name}[]" for f in fields if f.mode == "REPEATED"}
    assert {c for c in columns["segmentations"] if "." not in c} == top
    assert ("dicom_metadata_curated" in columns) == (version < 7)
    f, g = spec.SeriesFilter.build(), spec.SegmentFilter.build(structure="Liver")
    sql = render.render(spec.find_query(f, g), dataset=f"idc_v{version}", columns=columns)
    sqlglot.parse_one(sql, read="bigquery")
    first_name = "seg.SegmentAlgorithmName[SAFE_OFFSET(0)] AS SegmentAlgorithmName"
    assert (first_name in sql) == (13 <= version < 24)
    assert ("inst.SeriesInstanceUID" in sql) == (version < 13)
    assert (
        "dicom_metadata_curated"
        in render.render(spec.series_query(f), dataset=f"idc_v{version}", columns=columns)
    ) == (version >= 7)


def test_no_filter_means_no_flag_set() -> None:
    """Code asks `any(f.flags().values())` to know whether the user filtered at all."""
    assert not any(spec.SeriesFilter.build().flags().values())
    assert spec.SeriesFilter.build(source="local").flags()["source"] == "local"
    with pytest.raises(spec.UsageError, match="unknown --source"):
        spec.SeriesFilter.build(source="elsewhere")
