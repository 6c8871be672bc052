"""The local store and what fills it: the store file (``store``), DuckDB copies of IDC's indexes
(``prepared``), SEG ingest (``ingest``) and BigQuery sync (``sync``)."""
