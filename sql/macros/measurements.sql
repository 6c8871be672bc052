{#-
  macros/measurements.sql — rows of IDC's measurement tables (TID 1500 SRs), flat, on every
  engine and IDC release.

  measurement_rows(table, alias)
                     the group-level columns of quantitative_measurements or
                     qualitative_measurements: PatientID, SOPInstanceUID, SeriesInstanceUID (of
                     the SR), SeriesDescription, measurementGroup_number, segmentationInstanceUID,
                     segmentationSeriesUID, segmentationSegmentNumber, sourceSegmentedSeriesUID,
                     trackingIdentifier, trackingUniqueIdentifier, finding_*, findingSite_*
                     (CodeValue → _value, CodingSchemeDesignator → _scheme, CodeMeaning →
                     _meaning). Columns an older release lacks are NULL; its REPEATED
                     segmentationSegmentNumber gives its first number.
  code_match(record, name, m)
                     does the code RECORD match filter `name`: by "SCHEME:VALUE" in any case
                     against @<name>_codes (upper-case) and/or by lower-case meaning against
                     @<name>_meanings (`m` says which parameters exist)
  evaluated(row, i, e)
                     EXISTS: the measurement group of row `f_alias` has a qualitative
                     evaluation matching --evaluation number i (flags `e`: concept by
                     @evaluation<i>_codes / _meanings, value by @evaluation<i>_value_codes /
                     _value_meanings / _value_texts)
-#}
{% import "macros/idc.sql" as idc with context %}
{% import "macros/segments.sql" as segments_sql with context %}

{%- macro code_parts(prefix, record) -%}
      {{ record }}.CodingSchemeDesignator AS {{ prefix }}_scheme,
      {{ record }}.CodeValue AS {{ prefix }}_value,
      {{ record }}.CodeMeaning AS {{ prefix }}_meaning
{%- endmacro -%}

{%- macro measurement_rows(table, alias) -%}
      {{ alias }}.PatientID,
      {{ alias }}.SOPInstanceUID,
      {{ idc.column_or_null(table, "SeriesInstanceUID", alias ~ ".SeriesInstanceUID") }} AS SeriesInstanceUID,
      {{ idc.column_or_null(table, "SeriesDescription", alias ~ ".SeriesDescription") }} AS SeriesDescription,
      {{ alias }}.measurementGroup_number,
      {{ alias }}.segmentationInstanceUID,
      {{ idc.column_or_null(table, "segmentationSeriesUID", alias ~ ".segmentationSeriesUID") }} AS segmentationSeriesUID,
{%- if repeated(table, "segmentationSegmentNumber") %}
      {{ alias }}.segmentationSegmentNumber[SAFE_OFFSET(0)] AS segmentationSegmentNumber,
{%- else %}
      {{ alias }}.segmentationSegmentNumber,
{%- endif %}
      {{ alias }}.sourceSegmentedSeriesUID,
      {{ alias }}.trackingIdentifier,
      {{ alias }}.trackingUniqueIdentifier,
{{ code_parts("finding", alias ~ ".finding") }},
{{ code_parts("finding_site", alias ~ ".findingSite") }}
{%- endmacro -%}

{%- macro code_match(record, name, m) -%}
(
{%- if m.codes %}UPPER(CONCAT({{ record }}.CodingSchemeDesignator, ':', {{ record }}.CodeValue)) IN UNNEST(@{{ name }}_codes){% endif %}
{%- if m.codes and m.meanings %} OR {% endif %}
{%- if m.meanings %}LOWER({{ record }}.CodeMeaning) IN UNNEST(@{{ name }}_meanings){% endif -%}
)
{%- endmacro -%}

{%- macro evaluated(row, i, e) -%}
EXISTS (
        SELECT 1
        FROM {{ idc.table("qualitative_measurements") }} AS e
        WHERE e.SOPInstanceUID = {{ row }}.SOPInstanceUID
          AND e.measurementGroup_number = {{ row }}.measurementGroup_number
          AND {{ code_match("e.Quantity", "evaluation" ~ i, e) }}
          AND (
{%- if e.value_codes %}UPPER(CONCAT(e.Value.CodingSchemeDesignator, ':', e.Value.CodeValue)) IN UNNEST(@evaluation{{ i }}_value_codes){% endif %}
{%- if e.value_codes and (e.value_meanings or e.value_texts) %} OR {% endif %}
{%- if e.value_meanings %}LOWER(e.Value.CodeMeaning) IN UNNEST(@evaluation{{ i }}_value_meanings){% endif %}
{%- if e.value_meanings and e.value_texts %} OR {% endif %}
{%- if e.value_texts %}EXISTS (SELECT 1 FROM UNNEST(@evaluation{{ i }}_value_texts) AS t WHERE STRPOS(LOWER(e.Value.CodeMeaning), t) > 0){% endif -%}
))
{%- endmacro -%}
