"""Every tuning value of the fingerprint pipeline, in one frozen config.

Pass a :class:`FingerConfig` explicitly so that an evaluation can compare two
configurations in one process. :mod:`tessera.finger.pipeline` re-exports it;
it lives here so that every step can read it without importing the pipeline.

Sizes are in pixels *at 500 ppi* (the resolution every print is brought to
by :func:`tessera.finger.normalise.normalise_finger`) unless a field says
otherwise. Measured figures quoted below come from the shared evaluation
data (``../shared/data/finger``); the commands are in ``docs/fingerprints.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from tessera.match.mcc import DEFAULT_MCC_CONFIG, MccConfig

CAPTURES = ("contact", "contactless")
"""``contact``: a print from a scanner or ink (dark ridges on a light background, known resolution).
``contactless``: a camera photo of a fingertip (ridges of either polarity, resolution unknown)."""

TARGET_PPI = 500.0
"""Resolution every print is brought to; the minutiae extractor and the matcher expect it."""


@dataclass(frozen=True)
class FingerConfig:
    """Tuning values of :func:`tessera.finger.pipeline.extract_finger`."""

    # -- input limits ---------------------------------------------------------
    min_image_side: int = 120
    """Images whose shorter side is below this many pixels are refused (``image_too_small``): 120 px at
    500 ppi is 6 mm, less than a third of a fingertip."""
    max_image_pixels: int = 60_000_000
    """Images with more pixels are refused (``image_too_large``); the largest phone sensors give 50 MP."""
    contact_ppi: float = 500.0
    """Resolution assumed for a contact print when the caller does not give one."""

    # -- locate (contactless) ---------------------------------------------------
    locate_side: int = 320
    """The photo is shrunk to this many pixels on its longer side to find the finger (cheap, and
    the finger's outline needs no detail)."""
    skin_floor: float = 140.0
    """Smallest "redness" (YCrCb ``Cr - (Cb - 128) / 2``) that can count as skin. Otsu's threshold of each
    photo's redness separates the finger from its background; this floor stops neutral backgrounds (white
    paper, grey walls: redness ~128-135) from passing when no skin is in the photo."""
    min_finger_contrast: float = 6.0
    """Smallest step of mean redness (grey level for a monochrome photo) across the finger region's outline
    (a band of ~1/40 of the small photo's shorter side on each side, the frame's edges excluded). A real
    finger's outline is an edge: ``phone_iiitd`` 15-36, ``contactless_ds1`` 10.6-43.5. A wall split by the
    threshold along its uneven light has no edge there: 1.1 for the e2e camera's wall (``tests/e2e/y4m.py``),
    at 640x480 and at 3000x4000, raw or through the browser's JPEG; 0-1.1 for the plaster walls of the tests."""
    min_finger_fraction: float = 0.02
    """A skin-coloured region smaller than this fraction of the photo is not taken for a finger."""
    close_up_fraction: float = 0.5
    """A finger covering at least this fraction of the photo is a close-up: the whole finger region is used, as it is,
    with no tip to find."""
    fingertip_length: float = 1.5
    """Length of the fingertip crop along the finger, in finger widths (the distal phalanx of an adult
    index finger is about 1.2 widths long; the rest is margin)."""
    fingertip_breadth: float = 1.15
    """Breadth of the fingertip crop across the finger, in finger widths."""
    finger_width_mm: float = 16.0
    """Typical width of an adult fingertip, millimetres; sets the first guess of the resolution, which
    the ridge period then corrects."""
    crop_oversampling: float = 2.0
    """The fingertip is cut out at this many times the resolution its width suggests (500 ppi for a
    ``finger_width_mm`` finger), so that the ridge-period measurement can correct a wrong guess without
    enlarging the image."""
    period_search: tuple[float, ...] = (0.6, 1.0, 1.7)
    """The ridge period of a fingertip crop is searched for around these multiples of the period its width
    suggests (see :func:`tessera.finger.normalise.measure_period`)."""
    period_prior_spread: float = 0.5
    """Spread (natural log) of the ridge period around the guess from the finger's width: fingers, and
    how a device frames them, vary (a 3-D device that unrolls the finger shows it twice as wide)."""
    period_core: float = 0.4
    """The ridge period of a photo is measured where the distance to the finger's outline is at least this
    fraction of its largest value: the part of the finger that faces the camera."""
    min_finger_width_px: float = 200.0
    """Fingers narrower than this in the photo (its own pixels) are refused as ``move_closer``: at
    16 mm, 200 px puts the ridge period at ~6 px, about the least a phone JPEG keeps."""
    grey_is_colourless: float = 6.0
    """A photo whose channels differ by at most this much on average is treated as grayscale (an
    infrared or monochrome contactless device): the finger is then found as the bright region."""

    # -- ridge analysis -------------------------------------------------------------
    block_step: int = 12
    """Spacing of the ridge-analysis blocks, pixels at 500 ppi."""
    block_window: int = 32
    """Side of each analysed patch, pixels at 500 ppi (about 3.5 ridge periods)."""
    period_range: tuple[float, float] = (5.0, 16.0)
    """Ridge periods considered, pixels at 500 ppi (adult fingers: 7-12)."""
    target_ridge_period: float = 9.0
    """Ridge period a contactless photo is scaled to, pixels. The median over the 500 ppi contact prints
    of FVC2004 DB1-3, FVC2002 DB1 and CrossMatch is 8.5-9.8 (9.0 overall, 0.46 mm)."""

    # -- segmentation ---------------------------------------------------------------
    min_block_clarity: float = 0.22
    """Blocks whose ridge clarity (see :mod:`tessera.finger.ridges`) is below this are background."""
    min_block_power: float = 4.0
    """Blocks whose in-band ridge contrast (mean power, squared grey levels) is below this are background
    (a flat or nearly flat patch)."""
    mask_smoothing_blocks: int = 2
    """Radius, in blocks, of the morphological closing and opening that smooth the foreground."""
    minutia_margin_contactless: float = 10.0
    """In a photo, minutiae closer than this to the edge of the print (pixels) are dropped: where the
    finger's curve takes the ridges out of sight, they seem to end."""
    minutia_margin_contact: float = 0.0
    """The same for contact prints: 0, LEADER already ignores the edge of a print. Dropping minutiae within
    10 px of the segmentation's edge raised FVC2004 DB2's EER from 3.6 % to 4.3 %."""

    # -- normalisation --------------------------------------------------------------
    clahe_clip: float = 2.0
    """CLAHE contrast limit (OpenCV's ``clipLimit``)."""
    clahe_tile_px: int = 64
    """Side of a CLAHE tile, pixels at 500 ppi."""
    contactless_ridges_bright: bool = True
    """Contactless photos show ridges brighter than valleys (they catch the light); they are inverted
    to the dark ridges of contact prints, which the extractor was trained on."""

    # -- enhancement ------------------------------------------------------------------
    enhance_contact: bool = False
    """Filter contact prints (contextual STFT filtering, :mod:`tessera.finger.enhance`) before extraction.
    Off: LEADER is trained end to end on raw prints and reads them best."""
    enhance_contactless: bool = False
    """Filter contactless photos before extraction. Off: LEADER reads the normalised photo (CLAHE,
    inverted) better than the filtered one. On ``contactless_ds1`` (20 genuine pairs) the median genuine
    score is 0.21 unfiltered and 0.16 filtered, with 78 against 115 minutiae per print (the filter draws
    ridges into smudges, and LEADER finds endings in them); the EER is 5 % either way."""
    enhance_radial_bandwidth: float = 0.45
    """Half-width of the radial (frequency) pass band, as a fraction of the block's ridge frequency."""
    enhance_angular_bandwidth: float = 0.35
    """Half-width of the angular pass band, radians, for a perfectly coherent block; it widens as
    coherence drops."""

    # -- minutiae ---------------------------------------------------------------------
    extractor: str = "leader-onnx"
    """Name of the minutiae extractor in :data:`tessera.finger.minutiae.EXTRACTORS`."""
    min_minutia_quality: float = 0.5
    """LEADER detections below this confidence are dropped. Chosen on FVC2004 DB1-3 (all cross-finger
    pairs, MCC LSS-R): 0.45: 1.7 %, 0.5: 1.5 %, 0.55: 1.9 %, 0.6: 2.1 %, 0.7: 2.6 % mean EER; 0.5 and 0.6 give
    the same EER on FVC2002 DB1."""
    extractor_margin: int = 32
    """The extractor reads the print's bounding box plus this many pixels around it, not the whole image."""
    max_extractor_side: int = 512
    """The extractor reads at most this many pixels down and across (26 mm at 500 ppi, more than a fingertip's
    flat impression): where the print's box with its margin is larger, the ``max_extractor_side`` square window of
    it that holds the most print. The network's CPU and memory grow with the pixels it reads (about 1 KB of
    ONNX Runtime memory per pixel): a 1224 x 1224 scan of synthetic ridges, read whole, cost 14 s of CPU and
    2 GB. The boxes of the 808 contact prints of the shared data are at most 480 x 476 px, margin included:
    every one is read whole, as before."""
    contactless_extractor_side: int = 448
    """A contactless fingertip's window (the smaller of it and ``max_extractor_side``, the bound on every window):
    448 px, 23 mm at the normalised 500 ppi, the pad without the flanks the finger's curve foreshortens. The
    network's CPU grows with the window and a slap runs it four times: side by side in one process (2026-12-04, load
    ~3), a composed slap to four templates cost 3.2-4.0 s at 512 px, 2.6-3.3 s at 448 and 2.0-2.2 s at 384.
    ``tessera eval contactless`` with each window's own calibration: EER 19.6 / 24.4 / 24.4 % (38 genuine pairs:
    within each other's intervals; uncut, 24.4 %), four-finger genuine probes accepted at 1e-3 20 / 20 / **17** of
    20 (impostors 0 of 40 each), phone genuine pairs at the four-finger threshold 5 / 6 / 5 of 18. 384 px loses
    slaps; 448 loses nothing these data show. Phone photo against contact print: 3 / 4 / 3 of 6 genuine pairs above
    every impostor pair of 9,144. Minutiae per DS1 fingertip: 68 / 64 / 56 on average."""
    max_minutiae: int = 120
    """At most this many minutiae are kept, the most confident first."""

    # -- quality limits -------------------------------------------------------------------
    min_brightness: float = 55.0
    """Smallest mean grey level (0-255) of the located finger in a contactless photo (``too_dark``). The
    ``phone_iiitd`` photos: 75-168 with ridges found; one at 48 shows too few clear ridges. A photo whose
    90th-percentile grey level is below it is refused before the finger is looked for."""
    max_brightness: float = 235.0
    """Largest mean grey level of the located finger (``too_bright``); a photo whose 10th-percentile grey
    level is above it is refused at once."""
    max_clipped_fraction: float = 0.25
    """Largest fraction of the located finger that is pure black or pure white."""
    min_ridge_area_mm2: float = 80.0
    """Smallest area with clear ridges, square millimetres. The ``phone_iiitd`` photos show 127-337,
    ``contactless_ds1`` 380-690, FVC prints 100-300; blurring the photos by 6 px (a third of their ridge
    period) leaves 0-96. Below it, a contact print is ``not_a_finger`` and a photo ``finger_out_of_focus``."""
    min_print_area_mm2: float = 30.0
    """Smallest area with clear ridges in a contact print, square millimetres; below it the image is not a
    print (``not_a_finger``). Kept low: a partial but real print still carries enough minutiae, and the
    minutia count decides."""
    min_finger_clarity: float = 0.16
    """Smallest mean ridge clarity over the whole located finger (contactless). Sharp photos: 0.19-0.53
    (``phone_iiitd``, ``contactless_ds1``); the same blurred by a third of their ridge period: 0.08-0.15."""
    min_flow_coherence: float = 0.33
    """A close-up (no finger outline seen) or a contact image whose mean ridge-flow coherence (see
    :mod:`tessera.finger.ridges`) is below this shows no ridge flow at all: ``not_a_finger``. Isotropic
    textures (walls, plaster, noise) read 0.19-0.32; the 808 contact prints of the shared data 0.34-0.75
    (the lowest are FVC2004 DB4's synthetic ones), ``contactless_ds1`` 0.56-0.68, and still 0.36-0.60 when
    blurred out of use."""
    min_print_clarity: float = 0.20
    """A contact image whose ridge area has a mean clarity below this is ``not_a_finger``: the 808
    contact prints read 0.22-0.75, a plaster wall 0.19."""
    min_minutiae: int = 8
    """Fewer minutiae than this: ``too_few_minutiae``. The three FVC2004 prints (of 320) with 8-11 minutiae
    still match their mates; refusing them (a limit of 12, the traditional 12-point rule) raised DB2's EER
    from 3.6 % to 8.9 %, as a failure to enrol counts against every one of its genuine pairs."""

    # -- matching -----------------------------------------------------------------------
    mcc: MccConfig = DEFAULT_MCC_CONFIG
    """Matcher parameters, kept with the pipeline so that one config describes an evaluation. The service
    compares with them (``Instance.finger_config.mcc``: verification, the finger index, identification) and so
    does the FVC evaluation (:func:`tessera.evaluation.fvc.score_matrix`). A calibration holds only for the
    configuration it was fitted with (the shipped ones: the default)."""

    def __post_init__(self) -> None:
        if self.min_image_side < 32:
            raise ValueError(f"min_image_side must be at least 32 pixels; got {self.min_image_side}")
        if self.locate_side < 64:
            raise ValueError(f"locate_side must be at least 64 pixels; got {self.locate_side}")
        if self.block_window < 2 * self.block_step or self.block_window % 2:
            raise ValueError(
                f"block_window must be even and at least 2 * block_step; got {self.block_window} with "
                f"block_step {self.block_step}"
            )
        shortest, longest = self.period_range
        if not 2.0 <= shortest < self.target_ridge_period < longest <= self.block_window:
            raise ValueError(
                "period_range must satisfy 2 <= shortest < target_ridge_period < longest <= block_window; got "
                f"{self.period_range}"
            )
        if not 0.0 <= self.min_brightness < self.max_brightness <= 255.0:
            raise ValueError(
                "min_brightness and max_brightness must satisfy 0 <= min < max <= 255; got "
                f"{self.min_brightness}, {self.max_brightness}"
            )
        if self.max_extractor_side < 64:
            raise ValueError(f"max_extractor_side must be at least 64 pixels; got {self.max_extractor_side}")
        if self.contactless_extractor_side < 64:
            raise ValueError(
                f"contactless_extractor_side must be at least 64 pixels; got {self.contactless_extractor_side}"
            )
        if not 0.0 <= self.min_minutia_quality <= 1.0:
            raise ValueError(f"min_minutia_quality must lie in [0, 1]; got {self.min_minutia_quality}")
        if not 1 <= self.min_minutiae <= self.max_minutiae <= 255:
            raise ValueError(
                "min_minutiae and max_minutiae must satisfy 1 <= min <= max <= 255 (an ISO record holds 255); "
                f"got {self.min_minutiae}, {self.max_minutiae}"
            )

    def as_dict(self) -> dict:
        """The configuration as JSON-serialisable values, to record with an evaluation."""
        out = {}
        for item in fields(self):
            value = getattr(self, item.name)
            out[item.name] = (
                value.as_dict() if hasattr(value, "as_dict") else list(value) if isinstance(value, tuple) else value
            )
        return out


DEFAULT_FINGER_CONFIG = FingerConfig()
