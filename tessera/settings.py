"""Every setting of a Tessera instance, in one place.

Values come from keyword arguments, then environment variables prefixed
``TESSERA_`` (e.g. ``TESSERA_DATA_DIR``), then the defaults below.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tessera.face.embed import DLIB_RESNET_V1_FLIP
from tessera.face.sface import SFACE_ALGORITHM


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TESSERA_", frozen=True)

    data_dir: Path = Field(
        Path("var"),
        description="Folder holding this instance's SQLite database, master key, subject key store and audit anchor.",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the store. Default: a SQLite file in data_dir. "
        "PostgreSQL: postgresql+psycopg://user@host:5432/dbname",
    )
    master_key_file: Path | None = Field(
        None,
        description="File holding the 32-byte master key that wraps every subject's data key; "
        "default data_dir/master.key, created on first start. Keep it out of database backups.",
    )
    key_store_dir: Path | None = Field(
        None,
        description="Folder of per-subject data keys (wrapped by the master key); default data_dir/keys. "
        "Erasing a subject destroys its key here, so a restored database copy cannot be decrypted.",
    )
    max_upload_bytes: int = Field(15 * 1024 * 1024, gt=0, description="Largest accepted image upload, in bytes.")
    max_image_pixels: int = Field(40_000_000, gt=0, description="Largest accepted image, in pixels (rows x cols).")
    keep_raw_images: bool = Field(
        False,
        description="Keep the encrypted capture image beside its template. Off: images are discarded after templating.",
    )
    verify_target_fmr: float = Field(
        1e-3, gt=0, lt=1, description="False-match rate the 1:1 verification threshold is set for."
    )
    identify_expected_false_candidates: float = Field(
        0.01,
        gt=0,
        description="Expected number of wrong candidates per 1:N search; the threshold rises with the gallery "
        "size to keep it.",
    )
    identify_max_candidates: int = Field(10, ge=1, le=100, description="Most candidates a 1:N search returns.")
    identify_fusion_pool: int = Field(
        2000,
        ge=1,
        description="A fused 1:N search (several probes) takes each probe's best this many subjects from the "
        "index, then every score of every subject so found; a mate that no single probe ranks among its best "
        "this many is not considered. Larger finds more such mates and costs more per search; a distributed "
        "index caps it (Milvus: 16,384).",
    )
    fusion_fmr_safety_factor: float = Field(
        10.0,
        ge=1,
        description="Every fused (face + fingers, or several fingers) false-match rate is multiplied by this, "
        "and fused "
        "thresholds are set for the multiplied rate. On fingers held out of the fusion models' fit, the convolution "
        "understated the fused FMR by up to about 16x at 1e-6 over five finger splits (median about 3; see "
        "tessera/match/fusion.py), so 10 keeps a stated fused FMR honest to about an order of magnitude.",
    )
    catch_trial_rate: float = Field(
        0.05,
        ge=0,
        le=1,
        description="Share of 1:N review cases that get a known non-mate slipped in, to measure each reviewer's "
        "false-confirm rate.",
    )
    retention_interval_seconds: float = Field(
        3600, gt=0, description="How often the service runs the retention schedule."
    )
    audit_retention_days: int = Field(
        3650, ge=183, description="How long audit entries are kept; never less than six months (EU AI Act Art. 26(6))."
    )
    face_algorithms: tuple[str, ...] = Field(
        (SFACE_ALGORITHM, DLIB_RESNET_V1_FLIP),
        min_length=1,
        description="The registered face algorithms this instance serves (tessera.face.algorithms), strongest "
        "first. Enrolment makes a template with each; 1:1 compares with the strongest one the subject has a "
        "reference of, and a face matched by an older one than the first gives the subject a template of the "
        "first from that photo (docs/algorithms.md); 1:N searches with the first. Each brings its own calibration "
        "and fusion model. Default: YuNet + SFace, then dlib's ResNet (kept so that people enrolled with it are "
        "still verified).",
    )

    @field_validator("data_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'tessera.db'}"

    @property
    def resolved_master_key_file(self) -> Path:
        return self.master_key_file or self.data_dir / "master.key"

    @property
    def resolved_key_store_dir(self) -> Path:
        return self.key_store_dir or self.data_dir / "keys"

    @property
    def audit_anchor_file(self) -> Path:
        return self.data_dir / "audit-head.json"
