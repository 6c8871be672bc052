-- known_series.sql — which of $uids IDC's series index holds (DuckDB dialect).
-- Parameters: $parquet (path of idc_index.parquet), $uids (VARCHAR[]).
SELECT DISTINCT SeriesInstanceUID
FROM read_parquet($parquet)
WHERE SeriesInstanceUID IN (SELECT unnest($uids))
