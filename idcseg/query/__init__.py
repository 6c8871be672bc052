"""Questions to SQL to rows: validated filters (``spec``), Jinja templates (``render``), the
DuckDB and BigQuery engines (``engines``), their caches and BigQuery's cost guard."""
