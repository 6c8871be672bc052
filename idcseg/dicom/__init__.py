"""Reading DICOM objects: fast SEG header reads (``segheader``, ``_skim``) and the code systems
segments are described with (``codes``)."""
