-- stored_measurements.sql — how many measurement rows (quantitative and qualitative) the local
-- store holds (DuckDB dialect, on the engine's catalog connection): `measurements` says so when
-- an empty store answers nothing.
SELECT
  (SELECT count(*) FROM store.main.quantitative_measurements)
  + (SELECT count(*) FROM store.main.qualitative_measurements) AS measurement_rows
