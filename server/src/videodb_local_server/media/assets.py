"""Audio files and images, kept as they are: checked to be real media of their kind.

Blocking (FFmpeg probes); the server calls these in an executor. A file that is not what its
``media_type`` says raises :class:`hls.MediaError` with a message for the client.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from . import hls

#: Codecs of a still picture (also what an audio file's cover art is).
IMAGE_CODECS = frozenset({"mjpeg", "png", "webp", "bmp", "gif", "tiff", "jpeg2000", "jpegls"})
#: A still is one frame: FFmpeg reports it as 1/25 s (longer means a moving picture).
MAX_STILL_SECONDS = 0.1
#: File name suffix a kept file gets, by codec (the upload itself has no name on disk).
SUFFIXES = {
    "mjpeg": ".jpg", "png": ".png", "webp": ".webp", "bmp": ".bmp", "gif": ".gif",
    "tiff": ".tif", "jpeg2000": ".jp2", "jpegls": ".jls", "mp3": ".mp3", "aac": ".aac",
    "flac": ".flac", "vorbis": ".ogg", "opus": ".opus", "alac": ".m4a",
}  # fmt: skip


@dataclass(frozen=True)
class Checked:
    """A checked audio file or image: its length (audio) or size (image), and the suffix
    its kept copy gets."""

    suffix: str
    length: float | None = None
    width: int | None = None
    height: int | None = None


def _suffix(codec: str | None) -> str:
    if codec is not None and codec.startswith("pcm_"):
        return ".wav"
    return SUFFIXES.get(codec or "", ".bin")


def check_audio(path: str | os.PathLike[str]) -> Checked:
    """The length in seconds of audio file ``path``.

    :param path: the file to check.
    :raises hls.MediaError: when it has no audio, has moving pictures, or no length.
    """
    info = hls.probe(path)
    if info.audio_codec is None:
        raise hls.MediaError("not an audio file (no audio stream)")
    if info.video_codec is not None and info.video_codec not in IMAGE_CODECS:
        raise hls.MediaError(f"a video file ({info.video_codec}), not an audio file")
    if info.duration <= 0:
        raise hls.MediaError("the audio file has no length")
    return Checked(_suffix(info.audio_codec), length=info.duration)


def check_image(path: str | os.PathLike[str]) -> Checked:
    """The size of image file ``path``.

    :param path: the file to check.
    :raises hls.MediaError: when it is not a single still picture.
    """
    info = hls.probe(path)
    if info.video_codec not in IMAGE_CODECS or info.audio_codec is not None:
        raise hls.MediaError(f"not an image (codec {info.video_codec or 'none'})")
    if info.duration > MAX_STILL_SECONDS or not (info.width and info.height):
        raise hls.MediaError("not a still image (it moves, or has no size)")
    return Checked(_suffix(info.video_codec), width=info.width, height=info.height)
