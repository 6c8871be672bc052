-- store.sql — schema of the local store (DuckDB dialect), created once per store file and run
-- again to repair a store that lacks tables (every statement may run twice).
--
-- segmentations   one row per segment, IDC's BigQuery `segmentations` columns and types
-- segment_labels  SegmentLabel / SegmentDescription, which IDC's view lacks,
--                 keyed by (SOPInstanceUID, SegmentNumber)
-- local_series    series-level facts (idc_index columns) of SEG series IDC's index does not know
-- instances       where each stored SEG or SR instance came from (file, bucket or BigQuery)
-- measurement_groups         one row per Measurement Group of a TID 1500 SR, with its content
--                            tree (three levels of children; see idcseg/dicom/sr.py)
-- quantitative_measurements  one row per NUM item of a group (Value as NUMERIC, Units in UCUM)
-- qualitative_measurements   one row per coded evaluation of a group (Quantity = concept, Value)
--                 (the three with the columns, names and nesting of IDC's BigQuery views, newest
--                 release; a store made before they existed gains them when it is next opened)
-- meta            store schema version

CREATE TABLE IF NOT EXISTS segmentations (
  PatientID VARCHAR,
  StudyInstanceUID VARCHAR,
  SeriesInstanceUID VARCHAR,
  SOPInstanceUID VARCHAR,
  FrameOfReferenceUID VARCHAR,
  SegmentationType VARCHAR,
  AnatomicRegion STRUCT(CodeValue VARCHAR, CodingSchemeDesignator VARCHAR, CodeMeaning VARCHAR),
  AnatomicRegionModifier STRUCT(CodeValue VARCHAR, CodingSchemeDesignator VARCHAR, CodeMeaning VARCHAR),
  SegmentedPropertyCategory STRUCT(CodeValue VARCHAR, CodingSchemeDesignator VARCHAR, CodeMeaning VARCHAR),
  SegmentedPropertyType STRUCT(
    CodeValue VARCHAR,
    CodingSchemeDesignator VARCHAR,
    CodeMeaning VARCHAR,
    AnatomicRegionModifierSequence STRUCT(CodeValue VARCHAR, CodingSchemeDesignator VARCHAR, CodeMeaning VARCHAR)[],
    SegmentedPropertyTypeModifierCodeSequence STRUCT(CodeValue VARCHAR, CodingSchemeDesignator VARCHAR, CodeMeaning VARCHAR)[]
  ),
  SegmentAlgorithmType VARCHAR,
  SegmentAlgorithmName VARCHAR,
  SegmentNumber BIGINT,
  TrackingUID VARCHAR,
  TrackingID VARCHAR,
  segmented_SeriesInstanceUID VARCHAR,
  viewer_url VARCHAR
);

CREATE TABLE IF NOT EXISTS segment_labels (
  SOPInstanceUID VARCHAR NOT NULL,
  SegmentNumber BIGINT NOT NULL,
  SegmentLabel VARCHAR,
  SegmentDescription VARCHAR,
  PRIMARY KEY (SOPInstanceUID, SegmentNumber)
);

CREATE TABLE IF NOT EXISTS local_series (
  collection_id VARCHAR,
  analysis_result_id VARCHAR,
  PatientID VARCHAR,
  SeriesInstanceUID VARCHAR PRIMARY KEY,
  StudyInstanceUID VARCHAR,
  source_DOI VARCHAR,
  StudyDate VARCHAR,
  StudyDescription VARCHAR,
  BodyPartExamined VARCHAR,
  Modality VARCHAR,
  SOPClassUID VARCHAR,
  Manufacturer VARCHAR,
  ManufacturerModelName VARCHAR,
  SeriesDate VARCHAR,
  SeriesDescription VARCHAR,
  SeriesNumber VARCHAR,
  instanceCount BIGINT,
  license_short_name VARCHAR,
  aws_bucket VARCHAR,
  crdc_series_uuid VARCHAR,
  series_aws_url VARCHAR,
  series_size_MB DOUBLE
);

CREATE TABLE IF NOT EXISTS instances (
  SOPInstanceUID VARCHAR PRIMARY KEY,
  SeriesInstanceUID VARCHAR,
  origin VARCHAR,        -- 'file', 'bucket' or 'bigquery'
  location VARCHAR,      -- file path, object URL or dataset
  size_bytes BIGINT,
  mtime DOUBLE,
  stored_at TIMESTAMP DEFAULT current_timestamp
);

CREATE TABLE IF NOT EXISTS measurement_groups (
  SOPInstanceUID VARCHAR,
  SeriesInstanceUID VARCHAR,
  measurementGroup_number BIGINT,
  trackingUniqueIdentifier VARCHAR,
  trackingIdentifier VARCHAR,
  PatientID VARCHAR,
  SeriesDescription VARCHAR,
  finding STRUCT(CodeValue VARCHAR, CodingSchemeDesignator VARCHAR, CodingSchemeVersion VARCHAR, CodeMeaning VARCHAR),
  findingSite STRUCT(CodeValue VARCHAR, CodingSchemeDesignator VARCHAR, CodingSchemeVersion VARCHAR, CodeMeaning VARCHAR),
  sourceSegmentedSeriesUID VARCHAR,
  segmentationInstanceUID VARCHAR,
  segmentationSeriesUID VARCHAR,
  segmentationSegmentNumber BIGINT,
  contentSequence STRUCT(
    RelationshipType VARCHAR,
    ValueType VARCHAR,
    ConceptNameCodeSequence STRUCT(CodeValue VARCHAR, CodingSchemeDesignator VARCHAR, CodeMeaning VARCHAR)[],
    ContinuityOfContent VARCHAR,
    UID VARCHAR,
    TextValue VARCHAR,
    ConceptCodeSequence STRUCT(CodeValue VARCHAR, CodingSchemeDesignator VARCHAR, CodingSchemeVersion VARCHAR, CodeMeaning VARCHAR)[],
    MeasuredValueSequence STRUCT(
      MeasurementUnitsCodeSequence STRUCT(CodeValue VARCHAR, CodingSchemeDesignator VARCHAR, CodingSchemeVersion VARCHAR, CodeMeaning VARCHAR)[],
      NumericValue VARCHAR[]
    )[],
    ReferencedSOPSequence STRUCT(
      ReferencedSOPClassUID VARCHAR,
      ReferencedSOPInstanceUID VARCHAR,
      ReferencedSegmentNumber BIGINT[],
      ReferencedFrameNumber VARCHAR[]
    )[],
    ContentSequence STRUCT(
      RelationshipType VARCHAR,
      ValueType VARCHAR,
      ConceptNameCodeSequence STRUCT(CodeValue VARCHAR, CodingSchemeDesignator VARCHAR, CodeMeaning VARCHAR)[],
      ContinuityOfContent VARCHAR,
      UID VARCHAR,
      TextValue VARCHAR,
      ConceptCodeSequence STRUCT(CodeValue VARCHAR, CodingSchemeDesignator VARCHAR, CodingSchemeVersion VARCHAR, CodeMeaning VARCHAR)[],
      MeasuredValueSequence STRUCT(
        MeasurementUnitsCodeSequence STRUCT(CodeValue VARCHAR, CodingSchemeDesignator VARCHAR, CodingSchemeVersion VARCHAR, CodeMeaning VARCHAR)[],
        NumericValue VARCHAR[]
      )[],
      ReferencedSOPSequence STRUCT(
        ReferencedSOPClassUID VARCHAR,
        ReferencedSOPInstanceUID VARCHAR,
        ReferencedSegmentNumber BIGINT[],
        ReferencedFrameNumber VARCHAR[]
      )[],
      ContentSequence STRUCT(
        RelationshipType VARCHAR,
        ValueType VARCHAR,
        ConceptNameCodeSequence STRUCT(CodeValue VARCHAR, CodingSchemeDesignator VARCHAR, CodeMeaning VARCHAR)[],
        ContinuityOfContent VARCHAR,
        UID VARCHAR,
        TextValue VARCHAR,
        ConceptCodeSequence STRUCT(CodeValue VARCHAR, CodingSchemeDesignator VARCHAR, CodingSchemeVersion VARCHAR, CodeMeaning VARCHAR)[],
        MeasuredValueSequence STRUCT(
          MeasurementUnitsCodeSequence STRUCT(CodeValue VARCHAR, CodingSchemeDesignator VARCHAR, CodingSchemeVersion VARCHAR, CodeMeaning VARCHAR)[],
          NumericValue VARCHAR[]
        )[],
        ReferencedSOPSequence STRUCT(
          ReferencedSOPClassUID VARCHAR,
          ReferencedSOPInstanceUID VARCHAR,
          ReferencedSegmentNumber BIGINT[],
          ReferencedFrameNumber VARCHAR[]
        )[],
        ContentSequence STRUCT(
          RelationshipType VARCHAR,
          ValueType VARCHAR,
          ConceptNameCodeSequence STRUCT(CodeValue VARCHAR, CodingSchemeDesignator VARCHAR, CodeMeaning VARCHAR)[],
          ContinuityOfContent VARCHAR,
          UID VARCHAR,
          TextValue VARCHAR,
          ConceptCodeSequence STRUCT(CodeValue VARCHAR, CodingSchemeDesignator VARCHAR, CodingSchemeVersion VARCHAR, CodeMeaning VARCHAR)[],
          MeasuredValueSequence STRUCT(
            MeasurementUnitsCodeSequence STRUCT(CodeValue VARCHAR, CodingSchemeDesignator VARCHAR, CodingSchemeVersion VARCHAR, CodeMeaning VARCHAR)[],
            NumericValue VARCHAR[]
          )[],
          ReferencedSOPSequence STRUCT(
            ReferencedSOPClassUID VARCHAR,
            ReferencedSOPInstanceUID VARCHAR,
            ReferencedSegmentNumber BIGINT[],
            ReferencedFrameNumber VARCHAR[]
          )[]
        )[]
      )[]
    )[]
  )
);

CREATE TABLE IF NOT EXISTS quantitative_measurements (
  PatientID VARCHAR,
  SOPInstanceUID VARCHAR,
  SeriesInstanceUID VARCHAR,
  SeriesDescription VARCHAR,
  measurementGroup_number BIGINT,
  segmentationInstanceUID VARCHAR,
  segmentationSeriesUID VARCHAR,
  segmentationSegmentNumber BIGINT,
  sourceSegmentedSeriesUID VARCHAR,
  trackingIdentifier VARCHAR,
  trackingUniqueIdentifier VARCHAR,
  Quantity STRUCT(CodeValue VARCHAR, CodingSchemeDesignator VARCHAR, CodeMeaning VARCHAR),
  derivationModifier STRUCT(CodeValue VARCHAR, CodingSchemeDesignator VARCHAR, CodeMeaning VARCHAR),
  lateralityModifier STRUCT(CodeValue VARCHAR, CodingSchemeDesignator VARCHAR, CodingSchemeVersion VARCHAR, CodeMeaning VARCHAR),
  Value DECIMAL(38, 9),
  Units STRUCT(CodeValue VARCHAR, CodingSchemeDesignator VARCHAR, CodingSchemeVersion VARCHAR, CodeMeaning VARCHAR),
  finding STRUCT(CodeValue VARCHAR, CodingSchemeDesignator VARCHAR, CodingSchemeVersion VARCHAR, CodeMeaning VARCHAR),
  findingSite STRUCT(CodeValue VARCHAR, CodingSchemeDesignator VARCHAR, CodingSchemeVersion VARCHAR, CodeMeaning VARCHAR)
);

CREATE TABLE IF NOT EXISTS qualitative_measurements (
  PatientID VARCHAR,
  SOPInstanceUID VARCHAR,
  SeriesInstanceUID VARCHAR,
  SeriesDescription VARCHAR,
  measurementGroup_number BIGINT,
  segmentationInstanceUID VARCHAR,
  segmentationSeriesUID VARCHAR,
  segmentationSegmentNumber BIGINT,
  sourceSegmentedSeriesUID VARCHAR,
  trackingIdentifier VARCHAR,
  trackingUniqueIdentifier VARCHAR,
  Quantity STRUCT(CodeValue VARCHAR, CodingSchemeDesignator VARCHAR, CodeMeaning VARCHAR),
  Value STRUCT(CodeValue VARCHAR, CodingSchemeDesignator VARCHAR, CodingSchemeVersion VARCHAR, CodeMeaning VARCHAR),
  finding STRUCT(CodeValue VARCHAR, CodingSchemeDesignator VARCHAR, CodingSchemeVersion VARCHAR, CodeMeaning VARCHAR),
  findingSite STRUCT(CodeValue VARCHAR, CodingSchemeDesignator VARCHAR, CodingSchemeVersion VARCHAR, CodeMeaning VARCHAR)
);

CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);
INSERT OR IGNORE INTO meta VALUES ('schema_version', '1');
