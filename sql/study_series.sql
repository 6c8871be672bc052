-- study_series.sql — the image series of some studies: where a SEG's source series can be when
-- its header names only a source instance (ReferencedSeriesSequence missing).
--
-- Returns: SeriesInstanceUID, StudyInstanceUID, Modality, aws_bucket, crdc_series_uuid,
--   instanceCount, series_size_MB, one row per series; fewest instances first (the cheapest
--   to search). Series of objects that are not images (SEG, SR, RT objects, KO, PR, REG…)
--   are left out.
--
-- Parameters:
--   @study  ARRAY<STRING>  StudyInstanceUIDs
{% import "macros/idc.sql" as idc with context -%}
{% call idc.series_level(["StudyInstanceUID", "Modality", "aws_bucket", "crdc_series_uuid"]) -%}
StudyInstanceUID IN (SELECT uid FROM UNNEST(@study) AS uid)
      AND Modality NOT IN ('SEG', 'SR', 'RTSTRUCT', 'RTPLAN', 'RTDOSE', 'RTRECORD', 'KO', 'PR', 'REG', 'ANN', 'RWV', 'DOC', 'PLAN')
{%- endcall %}
ORDER BY instanceCount, SeriesInstanceUID
