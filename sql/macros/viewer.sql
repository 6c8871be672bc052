{#-
  macros/viewer.sql — IDC viewer links as SQL expressions (base
  https://viewer.imaging.datacommons.cancer.gov; formats as idc-index produces them).

  ohif_v3(study, series)      /v3/viewer/?StudyInstanceUIDs={study}[&initialSeriesInstanceUID={series}]
  ohif_v2(study, series)      /viewer/{study}[?SeriesInstanceUID={series}]
  slim(study, series)         /slim/studies/{study}[/series/{series}]
  default(study, series, has_sm)
                              Slim for studies holding slide microscopy, else OHIF v3
  seg_ohif_v2(study, seg, source)
                              OHIF v2 opening a SEG with the series it segments, the form of IDC's
                              segmentations.viewer_url before v24:
                              /viewer/{study}?seriesInstanceUID={seg},{source}
  seg_link(study, seg, source, in_idc, viewer="ohif_v3")
                              a SEG opened over the series it segments. ohif_v3: OHIF v3 with the
                              SEG as initial series (IDC's segmentations.viewer_url since v24;
                              OHIF shows a SEG over its source series). ohif_v2: seg_ohif_v2 when
                              the source is known, else the SEG alone in OHIF v2. NULL for series
                              IDC does not host.
-#}

{%- macro ohif_v3(study, series=None) -%}
CONCAT('https://viewer.imaging.datacommons.cancer.gov/v3/viewer/?StudyInstanceUIDs=', {{ study }}
{%- if series %}, '&initialSeriesInstanceUID=', {{ series }}{% endif %})
{%- endmacro -%}

{%- macro ohif_v2(study, series=None) -%}
CONCAT('https://viewer.imaging.datacommons.cancer.gov/viewer/', {{ study }}
{%- if series %}, '?SeriesInstanceUID=', {{ series }}{% endif %})
{%- endmacro -%}

{%- macro slim(study, series=None) -%}
CONCAT('https://viewer.imaging.datacommons.cancer.gov/slim/studies/', {{ study }}
{%- if series %}, '/series/', {{ series }}{% endif %})
{%- endmacro -%}

{%- macro default(study, series, has_sm) -%}
CASE WHEN {{ has_sm }} THEN {{ slim(study, series) }} ELSE {{ ohif_v3(study, series) }} END
{%- endmacro -%}

{%- macro seg_ohif_v2(study, seg, source) -%}
CONCAT('https://viewer.imaging.datacommons.cancer.gov/viewer/', {{ study }}, '?seriesInstanceUID=', {{ seg }}, ',', {{ source }})
{%- endmacro -%}

{%- macro seg_link(study, seg, source, in_idc, viewer="ohif_v3") -%}
CASE
    WHEN NOT {{ in_idc }} THEN NULL
{%- if viewer == "ohif_v2" %}
    WHEN {{ source }} IS NOT NULL THEN {{ seg_ohif_v2(study, seg, source) }}
    ELSE {{ ohif_v2(study, seg) }}
{%- else %}
    ELSE {{ ohif_v3(study, seg) }}
{%- endif %}
  END
{%- endmacro -%}
