"""Build real DICOM SR measurement reports (TID 1500) at test time, with highdicom.

:func:`make_world` writes a small CT series, a SEG of two lung nodules (tracking IDs and UIDs),
and reports modelled on IDC's LIDC-IDRI SRs (``dicom_lidc_idri_nodules``): per nodule a volume,
a diameter and a surface area in UCUM units, and a reader's ratings (malignancy, subtlety,
calcification…) coded as those SRs code them. The reports cover how a measurement links to a
segment: by SEG instance + segment number, by tracking UID only (the SEG it names is not
stored), and not at all. Other files are what a reader must refuse or read the slow way: an SR
of another template, a truncated report, re-encodings (implicit VR, undefined lengths, deflate,
big endian) and a UTF-8 report.

Everything is written with highdicom (and pydicom for re-encodings); nothing here uses idcseg.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from tests import segfactory
from tests.segfactory import Case, Seg

Code = tuple[str, str, str]

NODULE: Code = ("27925004", "SCT", "Nodule")
NODULE_SRT: Code = ("M-03010", "SRT", "Nodule")
LUNG: Code = ("39607008", "SCT", "Lung")
LUNG_SRT: Code = ("T-28000", "SRT", "Lung")
LEFT: Code = ("7771000", "SCT", "Left")
RIGHT: Code = ("24028007", "SCT", "Right")
VOLUME: Code = ("G-D705", "SRT", "Volume")
VOLUME_SCT: Code = ("118565006", "SCT", "Volume")
DIAMETER: Code = ("M-02550", "SRT", "Diameter")
SURFACE_AREA: Code = ("C25244", "NCIt", "Surface Area")
MAXIMUM: Code = ("R-404FB", "SRT", "Maximum")
MM: Code = ("mm", "UCUM", "millimeter")
MM2: Code = ("mm2", "UCUM", "square millimeter")
MM3: Code = ("mm3", "UCUM", "cubic millimeter")
ML: Code = ("ml", "UCUM", "milliliter")
HU: Code = ("[hnsf'U]", "UCUM", "Hounsfield unit")
MEAN_HU: Code = ("112031", "DCM", "Attenuation Coefficient")
MEAN: Code = ("R-00317", "SRT", "Mean")

# LIDC-IDRI's ratings as dicom_lidc_idri_nodules codes them (concept, {score: value})
MALIGNANCY: Code = ("RID36042", "RadLex", "Malignancy")
SUBTLETY: Code = ("C45992", "NCIt", "Subtlety score")
CALCIFICATION: Code = ("C3672", "NCIt", "Calcification")
TEXTURE: Code = ("C41144", "NCIt", "Texture")
MALIGNANCY_SCORES: dict[int, Code] = {
    1: ("901", "99LIDCQIICR", "1 out of 5 (Highly Unlikely for Cancer)"),
    2: ("902", "99LIDCQIICR", "2 out of 5 (Moderately Unlikely for Cancer)"),
    3: ("903", "99LIDCQIICR", "3 out of 5 (Indeterminate Likelihood)"),
    4: ("904", "99LIDCQIICR", "4 out of 5 (Moderately Suspicious for Cancer)"),
    5: ("905", "99LIDCQIICR", "5 out of 5 (Highly Suspicious for Cancer)"),
}
SUBTLETY_SCORES: dict[int, Code] = {
    3: ("103", "99LIDCQIICR", "3 out of 5 (Fairly subtle)"),
    5: ("105", "99LIDCQIICR", "5 out of 5 (Obvious)"),
}
CALCIFICATION_ABSENT: Code = ("RID28473", "RadLex", "Absent")
CALCIFICATION_POPCORN: Code = ("RID35453", "RadLex", "Popcorn calcification sign")
TEXTURE_SOLID: Code = ("RID50151", "RadLex", "solid pulmonary nodule")
# an evaluation coded in DCM (IDC's view drops those; idcseg keeps them)
FINDING_CATEGORY: Code = ("276214006", "SCT", "Finding category")
PRESENCE: Code = ("121073", "DCM", "Impression")


def concept(code: Code):  # noqa: ANN201
    """A new highdicom CodedConcept (never shared: highdicom keeps references)."""
    import highdicom as hd

    value, scheme, meaning = code
    return hd.sr.CodedConcept(value=value, scheme_designator=scheme, meaning=meaning)


@dataclass
class Group:
    """One measurement group to write."""

    segment_number: int
    measurements: list[tuple] = field(default_factory=list)  # (quantity, value, unit[, derivation])
    evaluations: list[tuple[Code, Code]] = field(default_factory=list)
    tracking_id: str | None = None  # default: the segment's
    tracking_uid: str | None = None  # default: the segment's
    seg_sop: str | None = None  # the SEG instance named (default: the SEG's own)
    finding: Code = NODULE_SRT
    finding_site: Code | None = LUNG_SRT
    laterality: Code | None = None


def group_item(seg: Dataset, spec: Group, source_series: str):  # noqa: ANN201
    """The highdicom measurement group of *spec* on *seg*."""
    import highdicom as hd

    segment = next(s for s in seg.SegmentSequence if int(s.SegmentNumber) == spec.segment_number)
    return hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(
            uid=spec.tracking_uid or segment.TrackingUID,
            identifier=spec.tracking_id or segment.TrackingID,
        ),
        referenced_segment=hd.sr.ReferencedSegment(
            sop_class_uid=seg.SOPClassUID,
            sop_instance_uid=spec.seg_sop or seg.SOPInstanceUID,
            segment_number=spec.segment_number,
            source_series=hd.sr.SourceSeriesForSegmentation(source_series),
        ),
        finding_type=concept(spec.finding),
        finding_sites=(
            [
                hd.sr.FindingSite(
                    concept(spec.finding_site),
                    laterality=concept(spec.laterality) if spec.laterality else None,
                )
            ]
            if spec.finding_site
            else None
        ),
        measurements=[
            hd.sr.Measurement(
                name=concept(m[0]),
                value=m[1],
                unit=concept(m[2]),
                derivation=concept(m[3]) if len(m) > 3 else None,
            )
            for m in spec.measurements
        ],
        qualitative_evaluations=[
            hd.sr.QualitativeEvaluation(concept(name), concept(value))
            for name, value in spec.evaluations
        ],
    )


SR_CLASSES = ("comprehensive3d", "comprehensive", "enhanced")


def make_report(
    path: Path,
    seg: Dataset,
    groups: list[Group],
    *,
    sop_class: str = "comprehensive3d",
    images: list[Dataset] = (),  # type: ignore[assignment]
    observer: str = "Reader^One",
    description: str = "nodule measurements",
    evidence: list[Dataset] | None = None,
) -> Path:
    """Write a TID 1500 report of *groups* on the SEG *seg*; return *path*."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    source = seg.ReferencedSeriesSequence[0].SeriesInstanceUID
    context = hd.sr.ObservationContext(
        observer_person_context=hd.sr.ObserverContext(
            observer_type=codes.DCM.Person,
            observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(
                name=observer
            ),
        )
    )
    report = hd.sr.MeasurementReport(
        observation_context=context,
        procedure_reported=concept(("77477000", "SCT", "Computed Tomography")),
        imaging_measurements=[group_item(seg, g, source) for g in groups],
        referenced_images=list(images) or None,
    )
    kind = {
        "comprehensive3d": hd.sr.Comprehensive3DSR,
        "comprehensive": hd.sr.ComprehensiveSR,
        "enhanced": hd.sr.EnhancedSR,
    }[sop_class]
    if evidence is None:
        evidence = [seg, *images, *(ghost(seg, g.seg_sop) for g in groups if g.seg_sop)]
    document = kind(
        evidence=evidence,
        content=report[0],
        series_instance_uid=generate_uid(),
        series_number=400,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer="idcseg tests",
        series_description=description,
        is_complete=True,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    document.save_as(path)
    return path


def ghost(seg: Dataset, sop_instance_uid: str) -> Dataset:
    """The header of another SEG instance (another series), for an SR's evidence: a SEG the
    report names that is never written, so no store holds it."""
    other = Dataset()
    other.SOPClassUID = seg.SOPClassUID
    other.SOPInstanceUID = sop_instance_uid
    other.SeriesInstanceUID = generate_uid()
    other.StudyInstanceUID = seg.StudyInstanceUID
    return other


def reencode(src: Path, dst: Path, syntax: str) -> Path:
    """*src* re-encoded: ``implicit``, ``undefined`` (explicit VR, every sequence and item of
    undefined length, as dcmqi writes), ``deflate`` or ``big_endian``."""
    ds = pydicom.dcmread(src)
    if syntax == "implicit":
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    elif syntax == "undefined":
        segfactory.undefined_lengths(ds)
    elif syntax == "deflate":
        ds.file_meta.TransferSyntaxUID = pydicom.uid.DeflatedExplicitVRLittleEndian
    elif syntax == "big_endian":
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRBigEndian
    else:
        raise ValueError(syntax)
    dst.parent.mkdir(parents=True, exist_ok=True)
    if syntax == "big_endian":  # pydicom converts only when asked to in so many words
        pydicom.dcmwrite(dst, ds, implicit_vr=False, little_endian=False, force_encoding=True)
    else:
        ds.save_as(dst, enforce_file_format=True)
    return dst


def edited(src: Path, dst: Path, edit) -> Path:  # noqa: ANN001
    """A copy of *src* with a new SOPInstanceUID, changed by ``edit(dataset)``."""
    ds = pydicom.dcmread(src)
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    edit(ds)
    dst.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(dst, enforce_file_format=True)
    return dst


@dataclass
class World:
    """The files of :func:`make_world`."""

    folder: Path
    ct: list[Dataset]  # the CT slices (written under folder/ct)
    seg: Path  # two nodules, tracking IDs and UIDs
    reports: dict[str, Path]  # name -> a TID 1500 SR that is ingested
    others: dict[str, Path]  # name -> a file ingest must refuse or skip
    variants: dict[str, Path]  # name -> "reader1" re-encoded (same rows)
    tracking_uids: dict[int, str]  # segment number -> TrackingUID


def make_world(folder: Path) -> World:
    """A CT series, a two-nodule SEG and the SRs described in the module docstring."""
    ct = segfactory.make_ct_series(folder / "ct", 3)
    uids = {1: generate_uid(), 2: generate_uid()}
    case = Case(
        "nodules",
        "BINARY",
        [
            Seg(n, f"Nodule {n}", segfactory.MORPH_ALTERED, NODULE, "SEMIAUTOMATIC", "Reader 1",
                region=LUNG, tracking_id=f"Nodule {n}", tracking_uid=uids[n])
            for n in (1, 2)
        ],
    )  # fmt: skip
    seg_path = segfactory.make_seg(case, ct, folder / "seg" / "nodules.dcm")
    seg = pydicom.dcmread(seg_path)
    sr = folder / "sr"
    reports = {
        # links by SEG instance + segment number; LIDC-like content, two nodules
        "reader1": make_report(
            sr / "reader1.dcm",
            seg,
            [
                Group(
                    1,
                    measurements=[
                        (VOLUME, 523.6, MM3),
                        (DIAMETER, 10.25, MM, MAXIMUM),
                        (SURFACE_AREA, 310.4, MM2),
                        (MEAN_HU, -12.5, HU, MEAN),
                    ],
                    evaluations=[
                        (MALIGNANCY, MALIGNANCY_SCORES[4]),
                        (SUBTLETY, SUBTLETY_SCORES[5]),
                        (CALCIFICATION, CALCIFICATION_ABSENT),
                        (TEXTURE, TEXTURE_SOLID),
                        (PRESENCE, ("C0205160", "UMLS", "Present")),
                    ],
                    laterality=LEFT,
                ),
                Group(
                    2,
                    measurements=[(VOLUME_SCT, 0.25, ML), (DIAMETER, 7.5, MM)],
                    evaluations=[
                        (MALIGNANCY, MALIGNANCY_SCORES[2]),
                        (SUBTLETY, SUBTLETY_SCORES[3]),
                        (CALCIFICATION, CALCIFICATION_POPCORN),
                    ],
                    finding=NODULE,
                    finding_site=LUNG,
                    laterality=RIGHT,
                ),
            ],
            images=ct,
        ),
        # names a SEG instance the store does not hold: linked by the tracking UID only
        "reader2_tracking": make_report(
            sr / "reader2_tracking.dcm",
            seg,
            [
                Group(
                    1,
                    measurements=[(VOLUME, 610.0, MM3), (DIAMETER, 11.0, MM)],
                    evaluations=[(MALIGNANCY, MALIGNANCY_SCORES[5])],
                    seg_sop=generate_uid(),
                    tracking_id="Nodule 1 - reader 2",
                )
            ],
            sop_class="enhanced",
            observer="Reader^Two",
        ),
        # names a SEG the store does not hold, with a tracking UID no stored segment has
        "unlinked": make_report(
            sr / "unlinked.dcm",
            seg,
            [
                Group(
                    2,
                    measurements=[(VOLUME, 1.2, ML)],
                    evaluations=[(MALIGNANCY, MALIGNANCY_SCORES[3])],
                    seg_sop=generate_uid(),
                    tracking_uid=generate_uid(),
                    tracking_id="Nodule X",
                )
            ],
            sop_class="comprehensive",
            observer="Reader^Three",
        ),
    }
    reports["utf8"] = edited(reports["unlinked"], sr / "utf8.dcm", _utf8)

    def other_template(ds: Dataset) -> None:
        ds.ContentTemplateSequence[0].TemplateIdentifier = "2000"

    others = {
        "not_tid1500": edited(
            reports["reader1"], folder / "bad" / "not_tid1500.dcm", other_template
        ),
        "truncated": _truncated(reports["reader1"], folder / "bad" / "truncated.dcm"),
    }
    variants = {
        name: reencode(reports["reader1"], folder / "variants" / f"{name}.dcm", name)
        for name in ("implicit", "undefined", "deflate", "big_endian")
    }
    return World(folder, ct, seg_path, reports, others, variants, uids)


def _utf8(ds: Dataset) -> None:
    """UTF-8 text in a tracking identifier and a code meaning."""
    ds.SpecificCharacterSet = "ISO_IR 192"
    group = ds.ContentSequence[-1].ContentSequence[0]
    for item in group.ContentSequence:
        if item.ConceptNameCodeSequence[0].CodeValue == "112039":
            item.TextValue = "Nódulo X – lector 3"
        if item.ValueType == "CODE" and item.ConceptNameCodeSequence[0].CodeValue == "RID36042":
            item.ConceptCodeSequence[0].CodeMeaning = "3 sur 5 (probabilité indéterminée)"


def _truncated(src: Path, dst: Path) -> Path:
    data = src.read_bytes()
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(data[: len(data) * 2 // 3])
    return dst


def copy_dataset(ds: Dataset) -> Dataset:
    """A deep copy (tests edit reports without touching the world's files)."""
    return copy.deepcopy(ds)
