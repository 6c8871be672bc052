-- known_names.sql — the collection and analysis-result ids the engine knows: what an empty
-- answer's --collection / --analysis-result values are checked against (close names suggested).
--
-- Returns: kind ('collection' or 'analysis_result'), id; one row per distinct id.
-- Parameters: none.
{% import "macros/idc.sql" as idc with context -%}
SELECT DISTINCT 'collection' AS kind, collection_id AS id
FROM {{ idc.table("dicom_all") }}
WHERE collection_id IS NOT NULL
UNION ALL
SELECT DISTINCT 'analysis_result' AS kind, analysis_result_id AS id
FROM {{ idc.table("dicom_all") }}
WHERE analysis_result_id IS NOT NULL
