"""Every tuning value of the liveness challenge, in one frozen config (passed in, so evaluations can compare)."""

from __future__ import annotations

from dataclasses import dataclass

STEPS = ("turn_left", "turn_right", "look_up", "look_down", "move_closer")
"""Movements a challenge may ask for, in the person's own directions. No blink: YuNet's five landmarks do not
see eyelids."""
ROTATIONS = ("turn_left", "turn_right", "look_up", "look_down")
"""Steps that turn the head, and so must show the parallax of a 3D head; every challenge holds at least one."""

INSTRUCTIONS = {
    "turn_left": "Turn your head slowly to your left, then back.",
    "turn_right": "Turn your head slowly to your right, then back.",
    "look_up": "Tilt your head up slowly, then back.",
    "look_down": "Tilt your head down slowly, then back.",
    "move_closer": "Bring the phone closer to your face, then back.",
}
"""What the capture page may show for each step, in plain words."""


@dataclass(frozen=True)
class LivenessConfig:
    """Limits of the burst checks (:mod:`tessera.liveness.burst`).

    The pose and parallax limits were chosen on ORL live photos and synthetic replays of ORL and LFW stills made
    with one seed (``tessera eval pad --tune-seed``), then reported on bursts made with another (docs/liveness.md).
    """

    min_frames: int = 5
    """Fewest frames in a burst: one looking straight, then ``hold_frames`` per step for two steps."""
    max_frames: int = 10
    """Most frames in a burst (one request may carry 11 files; bounds the server time: every frame is decoded and
    searched for its face, and only the reference and each step's held frames are embedded)."""
    frame_max_upload_pixels: int = 2560 * 1440
    """Most pixels a frame may declare; more is refused before it is decoded (``too_large``). A frame is a still of
    the live view: the capture page sends JPEG frames of at most 800 px, a phone's preview is at most 1440p. A face
    upload may declare 40 MP, and ten such frames (a 30 MP PNG of Paeth-filtered rows is 40 KB) cost 6.8-7.9 s of
    CPU to decode, all of it before anything is read; at this limit ten cost about a tenth of that."""
    frame_max_pixels: int = 640 * 480
    """Frames are shrunk to at most this many pixels while decoded: 640x480, what YuNet looks at anyway (the face
    pipeline detects on a copy at most 640 px on its longer side), and a face filling a selfie frame is still far
    larger than SFace's 112-px chip. Bounds a burst's memory to about 1 MB a frame."""
    hold_frames: int = 2
    """A step is seen only in this many consecutive frames that all show it: a head holds a pose for a moment, a
    landmark outlier in one frame of a picture does not (one frame let 1 in 6 one-step replays of an ORL photo
    through)."""
    min_steps: int = 2
    """Fewest steps a challenge asks for."""
    max_steps: int = 2
    """Most steps a challenge asks for. Two: about 3.6 s for the person, within the 4 s a verification may add (a
    third step takes it to about 5 s) and 5 frames of server work. Of the 16 two-step sequences a recorded answer
    fits one; three steps would make it one of 52, which does not stop an attacker who can replay a video of the
    person moving as asked, and a flat picture fails the parallax check at any length (docs/liveness.md)."""
    yaw_step: float = 0.18
    """A turn is seen when the nose moves this far sideways from the first frame, in interocular distances
    (about 18 degrees for a nose half an interocular distance deep)."""
    pitch_step: float = 0.12
    """A look up or down is seen when the nose-to-eyes over mouth-to-eyes drop changes this much."""
    closer_step: float = 1.15
    """Moving closer is seen when the interocular distance grows by this factor."""
    parallax_min: float = 0.12
    """At each turn or look, the nose must leave the homography of the eyes and mouth corners by at least this
    many interocular distances, in the asked direction (a flat picture's nose stays on it, up to noise)."""
    parallax_share: float = 0.6
    """... and by at least this share of the pose change it shows (a real head's is about all of it: slope 1.1
    on ORL's turns; a picture's pose change is perspective and landmark noise)."""
    same_face_min_similarity: float = 0.45
    """Every frame's SFace embedding must have at least this cosine similarity to the first frame's (the same
    person a few seconds apart scores far above; on LFW, SFace's threshold is 0.416 at FMR 1e-4 and 0.466 at
    1e-5, tessera/match/calibrations/face-yunet-sface-2021dec.json)."""


DEFAULT_LIVENESS_CONFIG = LivenessConfig()
