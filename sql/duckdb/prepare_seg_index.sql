-- prepare_seg_index.sql — a DuckDB-native copy of IDC's seg_index (DuckDB dialect).
--
--   seg_index   seg_index.parquet, every row and column unchanged, plus the modality and body
--               part of each segmented series (seg_index_rows.sql)
--   meanings    the distinct CodeMeanings of its arrays, by kind ('category', 'type',
--               'region'): a meaning filter looks up the spellings that match case-insensitively
--               here, then tests the arrays for those exact values (no per-element LOWER)
-- Built once per seg_index file and series index by idcseg.prepared.

{% include "duckdb/build_settings.sql" %}

CREATE TABLE seg_index AS
{% include "duckdb/seg_index_rows.sql" %};

CREATE TABLE meanings AS
  SELECT DISTINCT 'category' AS kind, meaning
  FROM seg_index, UNNEST(SegmentedPropertyCategory_CodeMeanings) AS u(meaning)
  UNION
  SELECT DISTINCT 'type' AS kind, meaning
  FROM seg_index, UNNEST(SegmentedPropertyType_CodeMeanings) AS u(meaning)
  UNION
  SELECT DISTINCT 'region' AS kind, meaning
  FROM seg_index, UNNEST(AnatomicRegion_CodeMeanings) AS u(meaning);
