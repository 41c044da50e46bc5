"""A contactless finger photo against a contact print: the pair kind ``contactless-contact``.

Contact and contactless templates are never compared under each other's
calibration (NIST SP 500-334r1). This module is what compares a
contactless probe with a contact reference, and what its own calibration
(``calibrations/cross-contactless-contact-leader-mcc-v1.json``, fitted by
``tessera calibrate --modality contactless-contact``) is for::

    contactless minutiae -> mirror (impression handedness) -> MCC with CROSS_SENSOR_MCC_CONFIG <- contact minutiae

Why each step (measured on the phone_iiitd photos against their contact
print by ``tessera eval cross-sensor``; docs/fingerprints.md gives the table)

Mirror
    A camera sees the pad of a finger as it is; a contact print (ink or a
    scanner's platen) is an *impression*: the pad's mirror image. MCC is
    invariant to rotation and translation but not to reflection, so an
    unmirrored photo and a print of one finger share almost no cylinder.
    The photo's minutiae are reflected about a vertical line (column ``c ->
    -c``, direction ``a -> π - a``): where they lie does not matter, MCC
    being translation invariant.
No direction gate
    MCC compares two cylinders only when their minutiae's directions differ
    by at most ``δθ`` (π/2 by default, Cappelli et al. 2010, eq. 8), which
    assumes the two captures were taken within ±90° of one another. A
    located photo is cut out upright, but a legacy scanner print can lie at
    any angle (the shared contact print lies on its side), so for this pair
    kind ``δθ`` is π: rotation is left to the cylinders, which are
    invariant to it, and to the relaxation's geometric consistency.

What this does not do: correct the foreshortening of the curved finger
(no cylindrical unwarping), or search over scales; both were measured or
left as said in docs/fingerprints.md.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np

from tessera.match.calibration import Calibration, load_calibration
from tessera.match.mcc import DEFAULT_MCC_CONFIG, MccConfig, mcc_score, mcc_template
from tessera.match.minutiae import Minutiae

PAIR_KIND = "contactless-contact"
"""A contactless probe against a contact reference (the calibration's ``data["capture"]``)."""

CROSS_SENSOR_CALIBRATION_PATH = (
    Path(__file__).resolve().parent / "calibrations" / "cross-contactless-contact-leader-mcc-v1.json"
)
"""The pair kind's calibration Tessera ships; without it a contactless probe is never decided against a contact
reference (``inconclusive``, reason ``cross_sensor_not_calibrated``)."""


def cross_sensor_mcc_config(base: MccConfig | None = None) -> MccConfig:
    """The MCC configuration for the pair kind: ``base`` (default: the pipeline's) with no direction gate.

    Parameters
    ----------
    base : MccConfig, optional
        Default: the MCC defaults (``FingerConfig.mcc``'s).

    Returns
    -------
    MccConfig
        ``max_angle_difference`` π (Cappelli et al. 2010, eq. 8: ``δθ``), every other value ``base``'s.
    """
    return replace(base or DEFAULT_MCC_CONFIG, max_angle_difference=math.pi)


def mirror_minutiae(minutiae: Minutiae) -> Minutiae:
    """The minutiae of the mirror image: column ``c -> -c`` and direction ``a -> π - a`` (radians, mod 2π).

    A minutia of angle ``a`` points along ``(d_row, d_col) = (-sin a, cos a)``
    (:mod:`tessera.match.minutiae`); reflecting the columns gives ``(-sin a, -cos a)``,
    which is the direction of ``π - a``. Positions may become negative: MCC only uses
    differences of positions.
    """
    points = np.stack([minutiae.rows, -minutiae.cols], axis=1)
    return Minutiae(points, math.pi - minutiae.angles.astype(np.float64), minutiae.kinds, minutiae.qualities)


def cross_sensor_score(contactless: Minutiae, contact: Minutiae, config: MccConfig | None = None) -> float:
    """MCC score of a contactless probe's minutiae against a contact reference's, as this pair kind compares them.

    Parameters
    ----------
    contactless, contact : Minutiae
        At 500 ppi (the pipeline's output for either capture).
    config : MccConfig, optional
        Default :func:`cross_sensor_mcc_config`.

    Returns
    -------
    float
        0 to 1 (Cappelli et al. 2010, LSS-R); meaningful only under the pair kind's calibration.
    """
    config = config or cross_sensor_mcc_config()
    probe = mcc_template(mirror_minutiae(contactless), config)
    return float(mcc_score(probe, mcc_template(contact, config), config))


def load_cross_sensor_calibration(path: Path = CROSS_SENSOR_CALIBRATION_PATH) -> Calibration | None:
    """The pair kind's calibration, or None when no file is installed (no contactless-contact decision is then made).

    Raises
    ------
    ValueError
        The file is not a finger calibration of the pair kind (``data.capture`` must be ``contactless-contact``).
    """
    if not Path(path).is_file():
        return None
    calibration = load_calibration(path)
    if calibration.modality != "finger" or calibration.data.get("capture") != PAIR_KIND:
        raise ValueError(
            f"{path}: a cross-sensor calibration must be a finger calibration with data.capture {PAIR_KIND!r}; got "
            f"{calibration.modality!r}, {calibration.data.get('capture')!r}"
        )
    return calibration
