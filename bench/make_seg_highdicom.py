"""The plain highdicom script a user would write to turn a NIfTI label map into a SEG.

    python bench/make_seg_highdicom.py LABELS.nii.gz CT_FOLDER OUT.dcm META.json

Reads the CT headers with pydicom (sorted along the slice normal), the label map with nibabel
(reoriented to the CT's [slice, row, column] voxels), the segment descriptions from the same
dcmqi metadata JSON the other tools get, and calls ``highdicom.seg.Segmentation`` once with the
whole label map; then ``save_as``. It is what highdicom's documentation shows, nothing tuned.
Used by ``make_seg.py`` as the third contender.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import highdicom as hd
import nibabel as nib
import numpy as np
import pydicom
from pydicom.uid import generate_uid


def main() -> None:
    labels_path, ct_folder, out, meta_path = sys.argv[1:5]
    ct = [pydicom.dcmread(p, stop_before_pixels=True) for p in sorted(Path(ct_folder).iterdir())]
    iop = np.array(ct[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    ct.sort(key=lambda ds: float(np.dot(normal, np.array(ds.ImagePositionPatient, float))))

    image = nib.as_closest_canonical(nib.load(labels_path))  # RAS: columns→R?, rows→A?, slices→S
    data = np.asanyarray(image.dataobj)
    # the CT here is axial, rows going posterior, columns going left: undo RAS on x and y
    labels = np.ascontiguousarray(data[::-1, ::-1, :].transpose(2, 1, 0))

    meta = json.loads(Path(meta_path).read_text())
    descriptions = []
    for number, item in enumerate(meta["segmentAttributes"][0], start=1):

        def code(key: str, item: dict = item) -> hd.sr.CodedConcept:
            c = item[key]
            return hd.sr.CodedConcept(c["CodeValue"], c["CodingSchemeDesignator"], c["CodeMeaning"])

        description = hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=item["SegmentLabel"],
            segmented_property_category=code("SegmentedPropertyCategoryCodeSequence"),
            segmented_property_type=code("SegmentedPropertyTypeCodeSequence"),
            algorithm_type=item["SegmentAlgorithmType"],
            algorithm_identification=hd.AlgorithmIdentificationSequence(
                name=item["SegmentAlgorithmName"],
                family=hd.sr.CodedConcept("123110", "DCM", "Artificial Intelligence"),
                version="1",
            ),
        )
        if "SegmentedPropertyTypeModifierCodeSequence" in item:
            modifier = code("SegmentedPropertyTypeModifierCodeSequence")
            description.SegmentedPropertyTypeCodeSequence[
                0
            ].SegmentedPropertyTypeModifierCodeSequence = [modifier]
        descriptions.append(description)
    # label values → segment numbers 1..N in the order of the metadata
    lut = np.zeros(int(labels.max()) + 1, dtype=np.uint8)
    for number, item in enumerate(meta["segmentAttributes"][0], start=1):
        if item["labelID"] < len(lut):
            lut[item["labelID"]] = number
    seg = hd.seg.Segmentation(
        source_images=ct,
        pixel_array=lut[labels],
        segmentation_type="BINARY",
        segment_descriptions=descriptions,
        series_instance_uid=generate_uid(),
        series_number=300,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer="bench",
        manufacturer_model_name="highdicom script",
        software_versions=hd.__version__,
        device_serial_number="1",
    )
    seg.save_as(out)


if __name__ == "__main__":
    main()
