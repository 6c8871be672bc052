-- citations.sql — the sources a set of series comes from: DOI, licence and how to cite each.
--
-- Returns: one row per (collection_id, analysis_result_id, source_DOI, license_short_name):
--   those columns, series_count, then from IDC's collection sources (or, failing that, its
--   analysis results) title, license_long_name, license_url and citation (IDC's text, with
--   its HTML markup), ordered by collection_id, analysis_result_id (original data first),
--   source_DOI.
--
-- Parameters:
--   @series  ARRAY<STRING>  SeriesInstanceUIDs
{% import "macros/idc.sql" as idc with context -%}
{% import "macros/download.sql" as download with context -%}
WITH
  picked AS (
{%- call idc.series_level(["collection_id", "analysis_result_id", "source_DOI", "license_short_name"]) %}SeriesInstanceUID IN (SELECT uid FROM UNNEST(@series) AS uid){% endcall %}
  ),
  per_source AS (
    SELECT
      collection_id,
      analysis_result_id,
      source_DOI,
      license_short_name,
      COUNT(*) AS series_count
    FROM picked
    GROUP BY collection_id, analysis_result_id, source_DOI, license_short_name
  ),
  collection_sources AS (
    SELECT
      c.collection_id,
      LOWER(s.source_doi) AS doi,
      ANY_VALUE(s.source_title) AS title,
      ANY_VALUE(s.license.license_long_name) AS license_long_name,
      ANY_VALUE(s.license.license_url) AS license_url,
      ANY_VALUE(s.citation) AS citation
    FROM {{ download.collections_table() }} AS c
    CROSS JOIN UNNEST(c.sources) AS s
    GROUP BY c.collection_id, LOWER(s.source_doi)
  ),
  analysis_sources AS (
    SELECT
      LOWER(source_DOI) AS doi,
      ANY_VALUE(analysis_result_title) AS title,
      ANY_VALUE(license_long_name) AS license_long_name,
      ANY_VALUE(license_url) AS license_url,
      ANY_VALUE(citation) AS citation
    FROM {{ download.analysis_results_table() }}
    GROUP BY LOWER(source_DOI)
  )
SELECT
  p.collection_id,
  p.analysis_result_id,
  p.source_DOI,
  p.license_short_name,
  p.series_count,
  COALESCE(c.title, a.title) AS title,
  COALESCE(c.license_long_name, a.license_long_name) AS license_long_name,
  COALESCE(c.license_url, a.license_url) AS license_url,
  COALESCE(c.citation, a.citation) AS citation
FROM per_source AS p
LEFT JOIN collection_sources AS c
  ON c.collection_id = p.collection_id AND c.doi = LOWER(p.source_DOI)
LEFT JOIN analysis_sources AS a
  ON a.doi = LOWER(p.source_DOI)
ORDER BY p.collection_id, p.analysis_result_id NULLS FIRST, p.source_DOI
