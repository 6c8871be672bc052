{#-
  macros/units.sql — the UCUM units `--unit` converts between (idcseg/query/units.py holds the
  same table, to refuse other units before any SQL runs).

  kind(code)    'length', 'area' or 'volume' for a unit idcseg converts, else NULL
  size(code)    the unit's size in mm, mm2 or mm3: value * size(from) / size(to) converts
-#}

{%- macro kind(code) -%}
CASE {{ code }}
      WHEN 'um' THEN 'length' WHEN 'mm' THEN 'length' WHEN 'cm' THEN 'length' WHEN 'm' THEN 'length'
      WHEN 'mm2' THEN 'area' WHEN 'cm2' THEN 'area' WHEN 'm2' THEN 'area'
      WHEN 'uL' THEN 'volume' WHEN 'ul' THEN 'volume' WHEN 'mm3' THEN 'volume'
      WHEN 'mL' THEN 'volume' WHEN 'ml' THEN 'volume' WHEN 'cm3' THEN 'volume'
      WHEN 'L' THEN 'volume' WHEN 'l' THEN 'volume' WHEN 'm3' THEN 'volume'
    END
{%- endmacro -%}

{%- macro size(code) -%}
CASE {{ code }}
      WHEN 'um' THEN 0.001 WHEN 'mm' THEN 1.0 WHEN 'cm' THEN 10.0 WHEN 'm' THEN 1000.0
      WHEN 'mm2' THEN 1.0 WHEN 'cm2' THEN 100.0 WHEN 'm2' THEN 1000000.0
      WHEN 'uL' THEN 1.0 WHEN 'ul' THEN 1.0 WHEN 'mm3' THEN 1.0
      WHEN 'mL' THEN 1000.0 WHEN 'ml' THEN 1000.0 WHEN 'cm3' THEN 1000.0
      WHEN 'L' THEN 1000000.0 WHEN 'l' THEN 1000000.0 WHEN 'm3' THEN 1000000000.0
    END
{%- endmacro -%}
