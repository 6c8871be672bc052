-- store_v2.sql — store schema version 2 (DuckDB dialect): IDC's three measurement tables.
--
-- Run on a new store after store.sql, and on a version-1 store by its first writer.
--
-- measurement_groups         one row per Measurement Group of a TID 1500 SR, with its content tree
-- quantitative_measurements  one row per NUM item of a group (Value as NUMERIC, Units in UCUM)
-- qualitative_measurements   one row per coded evaluation of a group (Quantity = concept, Value)
-- Columns, names and nesting as IDC's BigQuery views (etl_flow derived_data_views), newest
-- release; contentSequence keeps three levels of children (see idcseg/dicom/sr.py).

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

INSERT OR REPLACE INTO meta VALUES ('schema_version', '2');
