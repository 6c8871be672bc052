-- seg_index_rows.sql — IDC's seg_index.parquet with the modality and body part of each segmented
-- series from the series index: a SELECT, included by prepare_seg_index.sql and catalog.sql.
-- Context: seg_index_path, series_path (rendered as string literals).
SELECT
  s.SeriesInstanceUID,
  s.SegmentationType,
  s.total_segments,
  s.AlgorithmType,
  s.AlgorithmName,
  s.segmented_SeriesInstanceUID,
  s.SegmentedPropertyCategory_CodeMeanings,
  s.SegmentedPropertyType_CodeMeanings,
  s.AnatomicRegion_CodeMeanings,
  segmented.Modality AS segmented_Modality,
  segmented.BodyPartExamined AS segmented_BodyPartExamined
FROM read_parquet({{ seg_index_path | literal }}) AS s
LEFT JOIN (
  SELECT
    SeriesInstanceUID,
    ANY_VALUE(Modality) AS Modality,
    ANY_VALUE(BodyPartExamined) AS BodyPartExamined
  FROM read_parquet({{ series_path | literal }})
  GROUP BY SeriesInstanceUID
) AS segmented ON segmented.SeriesInstanceUID = s.segmented_SeriesInstanceUID
