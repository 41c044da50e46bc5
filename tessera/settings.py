"""Every setting of a Tessera instance, in one place.

Values come from keyword arguments, then environment variables prefixed
``TESSERA_`` (e.g. ``TESSERA_DATA_DIR``), then the defaults below.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tessera.face.embed import DLIB_RESNET_V1_FLIP
from tessera.face.sface import SFACE_ALGORITHM
from tessera.governance.disclosure import check_band_edges
from tessera.governance.small_counts import DEFAULT_MINIMUM_COUNT


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TESSERA_", frozen=True)

    data_dir: Path = Field(
        Path("var"),
        description="Folder holding this instance's SQLite database and audit anchor (created mode 0700).",
    )
    key_dir: Path | None = Field(
        None,
        description="Folder holding the master key (master.key), the subjects' data keys (subjects/) and the search "
        "cases' keys (cases/); created mode 0700. Default: a sibling of data_dir named '<data_dir>-keys' (var-keys "
        "beside var). It must not be inside data_dir nor the SQLite database's folder: a backup of the database "
        "folder must not hold the keys, or restoring it would revive erased people. Put it on another volume, "
        "backed up separately, or replace it by a KMS/HSM through the KeyStore protocol.",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the store. Default: a SQLite file in data_dir. "
        "PostgreSQL: postgresql+psycopg://user@host:5432/dbname",
    )
    master_key_file: Path | None = Field(
        None,
        description="File holding the 32-byte master key that wraps every subject's data key; "
        "default key_dir/master.key, created (mode 0600) on first start. Keep it out of database backups.",
    )
    key_store_dir: Path | None = Field(
        None,
        description="Folder of per-subject data keys (wrapped by the master key); default key_dir/subjects. "
        "Erasing a subject destroys its key here, so a restored database copy cannot be decrypted.",
    )
    index_snapshot: bool = Field(
        True,
        description="Keep a sealed snapshot of the in-process indexes in data_dir/index-snapshot (keys in "
        "key_dir/snapshots), so that a start loads it instead of opening every template in the store "
        "(tessera.workflows.snapshot). Off: every start rebuilds the indexes from the store. An index engine "
        "that keeps its own entries (Milvus) needs none.",
    )
    max_upload_bytes: int = Field(15 * 1024 * 1024, gt=0, description="Largest accepted image upload, in bytes.")
    max_image_pixels: int = Field(
        40_000_000,
        gt=0,
        description="Largest accepted image of any kind, in pixels (rows x cols) as its header declares them; "
        "a larger one is refused (413 too_large) before it is decoded.",
    )
    max_webp_pixels: int = Field(
        16_000_000,
        gt=0,
        description="Largest accepted WebP image, in pixels; a larger one is refused (413 too_large) before it is "
        "decoded. WebP costs about three times the CPU per pixel of JPEG or PNG to decode (0.7-1.0 s for 40 MP on "
        "one core, against 0.3 s) and cannot be decoded at a reduced size, so its limit is lower to keep one image "
        "under the CPU a request may cost (docs/security.md, image limits). Phone cameras write JPEG (or HEIC, "
        "refused) and the capture page sends JPEG.",
    )
    max_image_side: int = Field(
        16_384,
        gt=0,
        le=32_766,
        description="Longest side of an accepted image, in pixels; a longer one is refused (413 too_large) before it "
        "is decoded. OpenCV's warps (face alignment) fail on a side of 32,767 pixels or more, and a 1 x 40,000 "
        "image is within the pixel limit in a 200-byte file; no camera photo of a face or finger is this long.",
    )
    max_raw_image_bytes: int = Field(
        120_000_000,
        gt=0,
        description="Largest pixel data an image's header may declare, rows x cols x channels x bytes per channel "
        "(40 MP of 8-bit RGB; a 16-bit RGBA PNG holds 8 bytes per pixel, a CMYK JPEG 4); more is refused (413 "
        "too_large) before decoding, as the decoder inflates and unfilters all of it (a 40 MP 16-bit RGBA PNG "
        "cost 1 s of CPU).",
    )
    max_jpeg_scan_pixels: int = Field(
        400_000_000,
        gt=0,
        description="Largest scans x pixels of a JPEG upload (10 scans of a 40 MP photo, 32 of a 12 MP one); more "
        "is refused (422 too_many_scans) before decoding, as each scan is a pass over the image (a 40 MP JPEG of "
        "32 scans cost 1 s of CPU).",
    )
    max_contact_finger_pixels: int = Field(
        1_500_000,
        gt=0,
        description="Largest accepted contact finger scan, in pixels. Contact scans are read at 500 ppi, where "
        "one finger is under 1 MP (a 2 x 2 inch area); a larger one is refused (413 too_large) before it is "
        "decoded, since the finger pipeline costs about 330 bytes of memory per pixel.",
    )
    max_finger_pixels: int = Field(
        5_000_000,
        gt=0,
        description="A contactless finger photo with more pixels is shrunk to this many (aspect kept) while it "
        "is decoded, before the finger pipeline: the fingertip is cut out at a fixed resolution, so a larger "
        "photo only costs memory.",
    )
    max_jpeg_scans: int = Field(
        32,
        ge=1,
        description="Most scans a JPEG upload may have (a camera's progressive JPEG has about 10); more is "
        "refused (422 too_many_scans) before decoding, as each scan costs a pass over the whole image.",
    )
    max_concurrent_requests: int = Field(
        8,
        ge=1,
        description="Requests to /v1/ served at once, all keys together; one more is answered 503 busy with "
        "Retry-After at once, unread, so that memory does not grow with the queue (each request may hold its body "
        "and up to about 0.5 GB while an image is read).",
    )
    max_concurrent_requests_per_key: int = Field(
        4,
        ge=1,
        description="Requests to /v1/ served at once for one API key (one Authorization header; requests without "
        "one share a count); one more is answered 503 busy with Retry-After, so that one key cannot take every "
        "slot.",
    )
    request_timeout_seconds: float = Field(
        60.0,
        gt=0,
        description="Time a request may take; one still running is abandoned at its next stage (before an image "
        "is decoded or read) with 503 timeout and Retry-After.",
    )
    request_cpu_seconds: float = Field(
        10.0,
        gt=0,
        description="CPU time a request may spend (about 0.3-2 s per image on a small server), read on its own "
        "thread, which does all of its work (the models, BLAS and OpenCV run single-threaded in the service); one "
        "that has spent it is abandoned at its next stage with 422 too_costly.",
    )
    retry_after_seconds: int = Field(
        2, ge=0, description="Retry-After sent with a 503 busy or timeout answer, in seconds."
    )
    request_head_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="tessera serve closes a connection whose request line and headers have not all arrived this "
        "many seconds after it opened (or after its previous answer): half-open and slowloris connections.",
    )
    request_body_idle_timeout_seconds: float = Field(
        30.0,
        gt=0,
        description="tessera serve closes a connection whose request body stops arriving for this many seconds.",
    )
    auth_failure_limit: int = Field(
        10,
        ge=1,
        description="Failed authentications allowed per client address, and per key id, in each "
        "auth_failure_window_seconds; beyond it every request from that address or for that key id is refused "
        "with 429 until the window ends. Each failure is audited (never the secret).",
    )
    auth_failure_window_seconds: float = Field(
        60.0, gt=0, description="The window over which auth_failure_limit counts failed authentications."
    )
    consent_evidence_max_bytes: int = Field(
        300_000,
        gt=0,
        description="Largest consent evidence image (a signature drawn on the screen, a photo of a thumbprint mark), "
        "in bytes after base64 decoding; a larger one is refused (413 too_large).",
    )
    consent_evidence_max_pixels: int = Field(
        4_000_000,
        gt=0,
        description="Largest consent evidence image in pixels (rows x cols) as its header declares them.",
    )
    trusted_proxies: tuple[str, ...] = Field(
        (),
        description="Addresses or networks (10.0.0.5, 10.0.0.0/8, ::1) of the reverse proxies in front of the "
        "service. Only a request whose peer is one of them has its client address taken from X-Forwarded-For: the "
        "right-most hop that is not a trusted proxy (tessera.api.client_address). Default none: X-Forwarded-For is "
        "ignored and the peer's address counts, since any client can send the header. Set it behind a proxy, or "
        "the failed-authentication limit counts every client together. As JSON in the environment: "
        "TESSERA_TRUSTED_PROXIES='[\"127.0.0.1\"]'.",
    )
    api_docs: bool = Field(
        True,
        description="Serve the API reference at /docs: Swagger UI over /openapi.json, from assets installed by "
        "make web (tessera/web/vendor/swagger-ui), never from a CDN. The document describes the routes, fields, "
        "roles and error codes of this open-source API and holds no data of the instance (/openapi.json is public "
        "either way); the page sends requests only to this service, with a key typed into it. Off: /docs is a 404.",
    )
    audit_witness_dir: Path | None = Field(
        None,
        description="Folder of signed audit checkpoints written by `tessera audit checkpoint` (run it periodically). "
        "When set, every start, `tessera audit verify` and GET /v1/audit/verify check that the chain still holds "
        "the newest checkpoint's entry with its hash, so a restored older database is refused even with its anchor "
        "file put back. Put it where the database's administrators cannot rewrite it (another volume or host); it "
        "must not be inside data_dir. Default: no witness.",
    )
    audit_witness_key_file: Path | None = Field(
        None,
        description="The Ed25519 key that signs the witness checkpoints; default key_dir/audit-witness.key, created "
        "(mode 0600) on first use. Never in the witness folder: whoever can write there must not be able to sign.",
    )
    verify_limit_per_key: int = Field(
        600,
        ge=1,
        description="Verifications one API key may ask for in each verify_limit_window_seconds; one more is refused "
        "with 429 verify_rate_limited and Retry-After (audited). With scores banded, each answer tells an attacker "
        "little; the limit bounds how many answers a key can collect to climb toward a match.",
    )
    verify_limit_per_subject: int = Field(
        30,
        ge=1,
        description="Verifications against one subject, by all keys together, in each verify_limit_window_seconds; "
        "one more is refused with 429 verify_rate_limited and Retry-After (audited). A person is verified a few "
        "times a day; thousands of attempts against one person are an attack on that person.",
    )
    verify_limit_window_seconds: float = Field(
        3600.0,
        gt=0,
        description="The window over which verify_limit_per_key and verify_limit_per_subject count verifications "
        "(counted in the database, shared by every server process on it).",
    )
    fmr_band_edges: tuple[float, ...] = Field(
        (1e-3, 1e-5, 1e-7),
        min_length=1,
        description="Edges of the false-match-rate bands answered instead of scores by galleries whose "
        "score_disclosure is 'banded' (the default): a match is answered '≤ 1 in 1,000', '≤ 1 in 100,000' or "
        "'≤ 1 in 10,000,000', the narrowest band its score's FMR is in. Strictly decreasing rates in (0, 1); wide "
        "bands keep small score changes unobservable (tessera/governance/disclosure.py).",
    )
    keep_raw_images: bool = Field(
        False,
        description="Keep the encrypted capture image beside its template. Off: images are discarded after templating.",
    )
    reference_photo_pixels: int = Field(
        256,
        ge=64,
        le=512,
        description="Side, in pixels, of the face photo kept for reviewers (a square crop around the detected face "
        "with a margin, never the raw upload): in a gallery with 1:N search whose consent text says so, for each "
        "enrolled face, and for a search's probe while its case is open.",
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
    index_follow_interval_seconds: float = Field(
        0.25,
        gt=0,
        le=1,
        description="How often the service applies the index outbox: enrolments and erasures made by another "
        "process (the CLI, another server on the same database) reach this one's search indexes within about this "
        "long. Each search also applies it first.",
    )
    index_outbox_keep_seconds: float = Field(
        7 * 86400,
        ge=60,
        description="How long index outbox rows are kept after their commit (every process applies every row; a "
        "persistent index not served for longer must be rebuilt).",
    )
    single_admin_exception: bool = Field(
        False,
        description="A deployment with one admin only: let the admin who created an adjudicator key also record "
        "its training (normally a second admin must). Off by default; every use is audited "
        "(separation.single_admin_exception) and counted in the transparency report.",
    )
    transparency_min_count: int = Field(
        DEFAULT_MINIMUM_COUNT,
        ge=3,
        le=100,
        description="The smallest count the transparency report publishes as a number: below it a count, 0 included, "
        'reads {"fewer_than": N}, and counts that would let one be worked out by subtraction read {"at_least": N} '
        "(primary and secondary suppression, as statistics offices publish tables: the Handbook on Statistical "
        "Disclosure Control; tessera.governance.small_counts). At least 3: with 2, two withheld counts summing to 2 "
        "are both 1.",
    )
    complaint_acknowledge_days: int = Field(
        7, ge=1, le=90, description="Days within which an open complaint must be acknowledged before it is overdue."
    )
    complaint_resolve_days: int = Field(
        30,
        ge=1,
        le=365,
        description="Days from its opening within which a complaint must be resolved or rejected before it is overdue.",
    )
    complaint_contact: str = Field(
        "Ask the field worker for the complaint form, or write to the programme's data protection officer.",
        max_length=500,
        description="How a person complains, in plain words: printed on every enrolment receipt and notice.",
    )
    audit_retention_days: int = Field(
        3650, ge=183, description="How long audit entries are kept; never less than six months (EU AI Act Art. 26(6))."
    )
    liveness_challenge_seconds: float = Field(
        60.0,
        gt=0,
        le=60,
        description="How long a liveness challenge may be answered after it is issued (at most 60 s, so that a "
        "burst is fresh; docs/liveness.md).",
    )
    liveness_token_seconds: float = Field(
        120.0,
        gt=0,
        le=600,
        description="How long the token of a passed liveness burst may be used (once) for an enrolment, "
        "verification or search after it is issued.",
    )
    liveness_challenges_keep_seconds: float = Field(
        86400.0,
        ge=60,
        description="Liveness challenge rows (hashed nonce, steps, outcome; no image) are deleted this long after "
        "they expire; the audit trail keeps every outcome.",
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

    index: str = Field(
        "exact",
        description="Where face templates are searched: 'exact' (in process, the default), "
        "'milvus://host:port' (a Milvus server or cluster proxy; 'milvus://host:port/prefix' names this instance's "
        "collections when several share one deployment) or 'milvus-lite:PATH' (a Milvus Lite file, for "
        "development). Finger templates stay in the in-process index (finger_search). See docs/scale.md.",
    )

    finger_search: Literal["prefilter", "exact"] = Field(
        "prefilter",
        description="How a finger shard (one gallery, one finger position) is searched: 'prefilter' (the default) "
        "scans it exactly up to finger_prefilter_above consenting templates and, above that, scores exactly only "
        "the 5 % a compact code ranks most alike (tessera.index.finger.FingerIndex: on the public contact sets it "
        "raised FNIR by 0.57 point, 95 % interval -0.25 to +1.54, over 707 searches, and searched 100,000 "
        "fingers in 1.8 s of one core against 6.3 s exact); 'exact' always scores every template. Each identify answer "
        "and its audit entry say which was used (search_method). See docs/fingerprints.md.",
    )
    finger_prefilter_above: int = Field(
        20_000,
        ge=0,
        description="With finger_search 'prefilter': a finger shard with at most this many templates eligible "
        "for the search's purpose is still scanned exactly (below ~20,000 the exact scan takes under 2 s and "
        "loses nothing); 0 prefilters every shard larger than the shortlist.",
    )

    @field_validator("index", mode="after")
    @classmethod
    def _index(cls, value: str) -> str:
        if value == "exact" or value.startswith("milvus://") or value.startswith("milvus-lite:"):
            return value
        raise ValueError(f"index must be 'exact', 'milvus://host:port' or 'milvus-lite:PATH'; got {value!r}")

    @field_validator("trusted_proxies", mode="after")
    @classmethod
    def _proxies(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for proxy in value:
            try:
                ipaddress.ip_network(proxy.strip(), strict=False)
            except ValueError:
                raise ValueError(
                    f"trusted_proxies: {proxy!r} is not an IP address or network (e.g. 10.0.0.5, 10.0.0.0/8, ::1)"
                ) from None
        return value

    @field_validator("fmr_band_edges", mode="after")
    @classmethod
    def _band_edges(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        return check_band_edges(value)

    @field_validator("data_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @model_validator(mode="after")
    def _witness_apart(self) -> Settings:
        if self.audit_witness_dir is None:
            return self
        witness = self.audit_witness_dir.expanduser().resolve()
        if witness == self.data_dir or self.data_dir in witness.parents:
            raise ValueError(
                f"audit_witness_dir {witness} is inside data_dir {self.data_dir}: a restored copy of the data folder "
                "would bring its witness back with it; keep the witness elsewhere"
            )
        if witness in self.resolved_audit_witness_key_file.parents:
            raise ValueError(f"audit_witness_key_file must not be inside audit_witness_dir {witness}")
        return self

    @model_validator(mode="after")
    def _keys_apart_from_the_database(self) -> Settings:
        database_folders = {self.data_dir}
        if self.sqlite_file is not None:
            database_folders.add(self.sqlite_file.parent)
        for name, path in (
            ("key_dir", self.resolved_key_dir),
            ("master_key_file", self.resolved_master_key_file),
            ("key_store_dir", self.resolved_key_store_dir),
        ):
            path = path.expanduser().resolve()
            for folder in database_folders:
                if path == folder or folder in path.parents:
                    raise ValueError(
                        f"{name} {path} is inside the database folder {folder}: a backup of that folder would hold "
                        "the keys and revive erased people when restored; keep the keys in a folder of their own "
                        f"(the default is {self.data_dir.parent / (self.data_dir.name + '-keys')})"
                    )
        return self

    @property
    def sqlite_file(self) -> Path | None:
        """The SQLite database file, or None when the store is another database."""
        url = self.resolved_database_url
        if not url.startswith("sqlite:///") or url.endswith(":memory:"):
            return None
        return Path(url.removeprefix("sqlite:///")).expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'tessera.db'}"

    @property
    def resolved_master_key_file(self) -> Path:
        return self.master_key_file or self.resolved_key_dir / "master.key"

    @property
    def resolved_key_dir(self) -> Path:
        return (self.key_dir or self.data_dir.parent / f"{self.data_dir.name}-keys").expanduser().resolve()

    @property
    def resolved_key_store_dir(self) -> Path:
        return self.key_store_dir or self.resolved_key_dir / "subjects"

    @property
    def case_key_dir(self) -> Path:
        """Folder of the keys of search cases whose probe photo is kept for review."""
        return self.resolved_key_dir / "cases"

    @property
    def index_snapshot_dir(self) -> Path:
        return self.data_dir / "index-snapshot"

    @property
    def snapshot_key_dir(self) -> Path:
        """Folder of the keys of the index snapshot's segments (destroyed with the key of a subject erased)."""
        return self.resolved_key_dir / "snapshots"

    @property
    def rotation_key_dir(self) -> Path:
        """Folder of the random seeds of renewed template rotations (an external index; destroyed when renewed)."""
        return self.resolved_key_dir / "rotations"

    @property
    def resolved_audit_witness_key_file(self) -> Path:
        return (self.audit_witness_key_file or self.resolved_key_dir / "audit-witness.key").expanduser().resolve()

    @property
    def audit_anchor_file(self) -> Path:
        return self.data_dir / "audit-head.json"
