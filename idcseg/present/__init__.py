"""What users see: result formats and atomic output (``output``), notebook display (``display``),
bar charts (``plot``) and progress lines (``progress``)."""
