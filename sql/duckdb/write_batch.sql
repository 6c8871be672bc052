-- write_batch.sql — replace the rows of one batch of SEG instances in the store, in the
-- caller's transaction (DuckDB dialect).
--
-- Reads the registered Arrow tables _b_seg (segmentations rows), _b_labels (segment_labels),
-- _b_inst (instances: SEGs and SRs), _b_series (local_series facts of SEG series IDC's index
-- lacks), and _b_groups, _b_quant, _b_qual (measurement_groups, quantitative_measurements and
-- qualitative_measurements rows of TID 1500 SRs; a group's contentSequence comes as JSON text and
-- is cast to the column's nested type). An instance's earlier rows go first, whether
-- they came from the same SOPInstanceUID or from the same origin and location (a file that was
-- a SEG and is now an SR loses its segments, and the other way round); local_series keeps what
-- other origins set (collection, license…) and recounts instances and size from the instances
-- table.

CREATE TEMP TABLE _gone AS
  SELECT SOPInstanceUID, SeriesInstanceUID FROM instances
  WHERE SOPInstanceUID IN (SELECT SOPInstanceUID FROM _b_inst)
     OR EXISTS (SELECT 1 FROM _b_inst b
                WHERE b.origin = instances.origin AND b.location = instances.location);
DELETE FROM segmentations WHERE SOPInstanceUID IN
  (SELECT SOPInstanceUID FROM _gone UNION SELECT SOPInstanceUID FROM _b_inst);
DELETE FROM segment_labels WHERE SOPInstanceUID IN
  (SELECT SOPInstanceUID FROM _gone UNION SELECT SOPInstanceUID FROM _b_inst);
DELETE FROM measurement_groups WHERE SOPInstanceUID IN
  (SELECT SOPInstanceUID FROM _gone UNION SELECT SOPInstanceUID FROM _b_inst);
DELETE FROM quantitative_measurements WHERE SOPInstanceUID IN
  (SELECT SOPInstanceUID FROM _gone UNION SELECT SOPInstanceUID FROM _b_inst);
DELETE FROM qualitative_measurements WHERE SOPInstanceUID IN
  (SELECT SOPInstanceUID FROM _gone UNION SELECT SOPInstanceUID FROM _b_inst);
DELETE FROM instances WHERE SOPInstanceUID IN (SELECT SOPInstanceUID FROM _gone);
INSERT INTO segmentations BY NAME SELECT * FROM _b_seg;
INSERT INTO segment_labels BY NAME SELECT * FROM _b_labels;
INSERT INTO measurement_groups BY NAME
  SELECT * REPLACE (contentSequence::JSON AS contentSequence) FROM _b_groups;
INSERT INTO quantitative_measurements BY NAME SELECT * FROM _b_quant;
INSERT INTO qualitative_measurements BY NAME SELECT * FROM _b_qual;
INSERT INTO instances BY NAME SELECT * FROM _b_inst;
INSERT INTO local_series BY NAME SELECT * FROM _b_series
  ON CONFLICT (SeriesInstanceUID) DO UPDATE SET
    PatientID = excluded.PatientID,
    StudyInstanceUID = excluded.StudyInstanceUID,
    StudyDate = excluded.StudyDate,
    StudyDescription = excluded.StudyDescription,
    BodyPartExamined = excluded.BodyPartExamined,
    Modality = excluded.Modality,
    SOPClassUID = excluded.SOPClassUID,
    Manufacturer = excluded.Manufacturer,
    ManufacturerModelName = excluded.ManufacturerModelName,
    SeriesDate = excluded.SeriesDate,
    SeriesDescription = excluded.SeriesDescription,
    SeriesNumber = excluded.SeriesNumber;
CREATE TEMP TABLE _touched AS
  SELECT SeriesInstanceUID FROM _b_series
  UNION SELECT SeriesInstanceUID FROM _gone
  UNION SELECT SeriesInstanceUID FROM _b_inst;
UPDATE local_series SET instanceCount = agg.n, series_size_MB = agg.bytes / 1e6
  FROM (SELECT SeriesInstanceUID, count(*) AS n, sum(size_bytes) AS bytes FROM instances
        WHERE SeriesInstanceUID IN (SELECT SeriesInstanceUID FROM _touched)
        GROUP BY SeriesInstanceUID) AS agg
  WHERE local_series.SeriesInstanceUID = agg.SeriesInstanceUID;
DELETE FROM local_series
  WHERE SeriesInstanceUID IN (SELECT SeriesInstanceUID FROM _touched)
    AND SeriesInstanceUID NOT IN (SELECT SeriesInstanceUID FROM instances
                                  WHERE SeriesInstanceUID IS NOT NULL);
DROP TABLE _gone;
DROP TABLE _touched;
