"""Read animated GIFs (and animated WebP, APNG, still images) as composited RGB frames.

``read_gif`` returns every frame at once as ``(T, H, W, 3) uint8``; ``iter_frames`` yields them one
at a time so that a long animation is processed in memory bounded by one canvas; ``probe`` reads
only the headers. Frames are composited as a browser shows them (see :mod:`gifemo.io.gif_frames`)
and transparent pixels are flattened onto a fixed ``background`` colour.

Hostile input is refused before anything large is allocated: the canvas size and the number of
frames are checked against ``max_pixels`` and ``max_frames`` from the headers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from gifemo.io.errors import EmptyGifError, GifError, TooManyFramesError
from gifemo.io.gif_frames import iter_gif_canvases
from gifemo.io.gif_layout import GifLayout, is_gif, scan_gif
from gifemo.io.pillow_frames import frame_indices, iter_pillow_frames, open_with_pillow
from gifemo.io.source import Source, SourceBuffer, open_source

#: Largest canvas read by default: 4096 x 4096 (16.8 megapixels), far above any real reaction
#: GIF, far below a decompression bomb (a 30,000 x 30,000 canvas is 900 megapixels).
DEFAULT_MAX_PIXELS = 4096 * 4096

#: Browsers play a frame whose delay is under ``MIN_DELAY_MS`` for ``SLOW_DELAY_MS`` instead
#: (GIF delays are centiseconds, so this means a delay of 0 or 1 centisecond).
MIN_DELAY_MS = 20
SLOW_DELAY_MS = 100

Color = tuple[int, int, int]


def effective_duration_ms(raw_ms: int) -> int:
    """The delay a browser actually waits for a frame whose stored delay is ``raw_ms``."""
    return SLOW_DELAY_MS if raw_ms < MIN_DELAY_MS else raw_ms


@dataclass(frozen=True)
class Frame:
    """One composited frame: ``image`` is ``(H, W, 3) uint8``, RGB."""

    index: int
    image: np.ndarray
    duration_ms: int
    effective_duration_ms: int


@dataclass
class DecodedGif:
    """All frames of an animation.

    Attributes:
        frames: ``(T, H, W, 3) uint8`` RGB, composited as a browser shows them.
        durations_ms: the ``T`` delays stored in the file, in milliseconds.
        effective_durations_ms: the delays a browser plays (``< 20 ms -> 100 ms``).
        source: the name of the file, for messages.
        format: ``"GIF"``, or Pillow's format name (``"WEBP"``, ``"PNG"``, ...).
        truncated: True when ``strict=False`` dropped frames after truncated or corrupt data.
        error: the error ``strict=True`` would have raised (None when the file is intact).
    """

    frames: np.ndarray
    durations_ms: list[int]
    effective_durations_ms: list[int]
    source: str
    format: str
    truncated: bool = False
    error: GifError | None = None

    @property
    def n_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def height(self) -> int:
        return int(self.frames.shape[1])

    @property
    def width(self) -> int:
        return int(self.frames.shape[2])

    def __len__(self) -> int:
        return self.n_frames

    def __getitem__(self, index: int) -> Frame:
        return Frame(
            index, self.frames[index], self.durations_ms[index], self.effective_durations_ms[index]
        )

    def __iter__(self) -> Iterator[Frame]:
        return (self[i] for i in range(self.n_frames))


@dataclass(frozen=True)
class ImageInfo:
    """Headers of an image, from :func:`probe`. For a GIF no pixel is decompressed."""

    source: str
    format: str
    width: int
    height: int
    n_frames: int
    durations_ms: list[int] = field(repr=False)
    truncated: bool = False
    error: GifError | None = None

    @property
    def effective_durations_ms(self) -> list[int]:
        return [effective_duration_ms(d) for d in self.durations_ms]


class _Opened:
    """A source opened and its headers checked; yields ``(frame view, raw delay)`` pairs."""

    def __init__(
        self, source: Source, *, max_pixels: int | None, max_frames: int | None, strict: bool
    ):
        self.buffer: SourceBuffer = open_source(source)
        self.name = self.buffer.name
        self.strict = strict
        self.error: GifError | None = None
        try:
            self._open(max_pixels=max_pixels, max_frames=max_frames)
        except BaseException:
            self.buffer.close()
            raise

    def _open(self, *, max_pixels: int | None, max_frames: int | None) -> None:
        data = self.buffer.data
        self.layout: GifLayout | None = None
        if is_gif(data):
            layout = scan_gif(data, self.name, max_pixels=max_pixels, max_frames=max_frames)
            self.layout, self.format = layout, "GIF"
            self.width, self.height = layout.width, layout.height
            self.n_frames = len(layout.frames)
            self.durations_ms: list[int] | None = [f.delay_ms for f in layout.frames]
            if layout.error is not None:
                self._fail(layout.error, frames_done=self.n_frames)
            elif not layout.frames:
                raise EmptyGifError(self.name, "the GIF is well-formed but holds no frame")
            return
        self.image = open_with_pillow(data, self.name, max_pixels=max_pixels)
        self.format = self.image.format or "unknown"
        self.width, self.height = self.image.size
        self.n_frames = len(frame_indices(self.image))
        self.durations_ms = None  # known only by decoding the frames
        if max_frames is not None and self.n_frames > max_frames:
            raise TooManyFramesError(
                self.name, f"has {self.n_frames} frames, more than max_frames={max_frames}"
            )
        if self.n_frames == 0:
            raise EmptyGifError(self.name, "the image holds no frame")

    def _fail(self, error: GifError, *, frames_done: int) -> None:
        """Raise in strict mode (or when nothing complete is left); otherwise remember ``error``."""
        if self.strict or frames_done == 0:
            raise error
        self.error = error

    def frames(self, background: Color) -> Iterator[tuple[np.ndarray, int]]:
        """Yield composited frames (views reused between steps: copy to keep) and raw delays."""
        if self.layout is not None:
            pairs = (
                (canvas, record.delay_ms)
                for record, canvas in iter_gif_canvases(
                    self.layout, self.buffer.data, self.name, background
                )
            )
        else:
            pairs = iter_pillow_frames(self.image, self.name, background)
        done = 0
        try:
            for pair in pairs:
                yield pair
                done += 1
        except GifError as error:
            self._fail(error, frames_done=done)

    def close(self) -> None:
        image = getattr(self, "image", None)
        if image is not None:
            image.close()
        self.buffer.close()


def _check_background(background: Color) -> Color:
    values = tuple(int(v) for v in background)
    if len(values) != 3 or not all(0 <= v <= 255 for v in values):
        raise ValueError(f"background must be three integers in 0..255, got {background!r}")
    return values  # type: ignore[return-value]


def read_gif(
    source: Source,
    *,
    max_frames: int | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    background: Color = (255, 255, 255),
    strict: bool = True,
) -> DecodedGif:
    """Decode every frame of ``source`` (path, bytes or binary file object).

    Args:
        max_frames: raise :class:`TooManyFramesError` for more frames than this (None: no limit).
        max_pixels: raise :class:`CanvasTooLargeError` for a larger canvas, before allocating it
            (None: no limit).
        background: the RGB colour transparent pixels show.
        strict: raise :class:`TruncatedGifError` / :class:`CorruptGifError` on damaged data;
            with False, return the complete frames before the damage, with ``truncated=True``.

    Returns:
        :class:`DecodedGif` with ``frames`` ``(T, H, W, 3) uint8``.
    """
    background = _check_background(background)
    opened = _Opened(source, max_pixels=max_pixels, max_frames=max_frames, strict=strict)
    try:
        if opened.layout is not None:
            # A GIF's frame count is known from the scan: fill one preallocated array.
            out = np.empty((opened.n_frames, opened.height, opened.width, 3), dtype=np.uint8)
            delays = []
            for i, (canvas, delay) in enumerate(opened.frames(background)):
                out[i] = canvas
                delays.append(delay)
            if len(delays) < len(out):
                out = out[: len(delays)].copy()
        else:
            images, delays = [], []
            for canvas, delay in opened.frames(background):
                images.append(canvas)
                delays.append(delay)
            out = np.stack(images)
        return DecodedGif(
            frames=out,
            durations_ms=delays,
            effective_durations_ms=[effective_duration_ms(d) for d in delays],
            source=opened.name,
            format=opened.format,
            truncated=opened.error is not None,
            error=opened.error,
        )
    finally:
        opened.close()


class FrameIterator(Iterator[Frame]):
    """Iterator over the composited frames of one file, returned by :func:`iter_frames`.

    The headers are read when it is created (so a bad file fails there); ``width``, ``height``,
    ``format`` and ``n_frames`` (frames whose data is complete, for a GIF) are known up front.
    After the iteration, ``truncated``/``error`` tell whether ``strict=False`` stopped early.
    Use it as a context manager (or exhaust it) to release the file.
    """

    def __init__(self, opened: _Opened, background: Color) -> None:
        self._opened = opened
        self._pairs = opened.frames(background)
        self._index = 0
        self.source, self.format = opened.name, opened.format
        self.width, self.height, self.n_frames = opened.width, opened.height, opened.n_frames

    @property
    def error(self) -> GifError | None:
        return self._opened.error

    @property
    def truncated(self) -> bool:
        return self._opened.error is not None

    def __len__(self) -> int:
        return self.n_frames

    def __iter__(self) -> FrameIterator:
        return self

    def __next__(self) -> Frame:
        try:
            canvas, delay = next(self._pairs)
        except BaseException:
            self.close()
            raise
        frame = Frame(self._index, canvas.copy(), delay, effective_duration_ms(delay))
        self._index += 1
        return frame

    def close(self) -> None:
        self._pairs.close()
        self._opened.close()

    def __enter__(self) -> FrameIterator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def iter_frames(
    source: Source,
    *,
    max_frames: int | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    background: Color = (255, 255, 255),
    strict: bool = True,
) -> FrameIterator:
    """Yield :class:`Frame` objects one at a time; same arguments and errors as :func:`read_gif`.

    Memory stays bounded by a few canvases whatever the number of frames (a path is
    memory-mapped, not read whole).
    """
    background = _check_background(background)
    opened = _Opened(source, max_pixels=max_pixels, max_frames=max_frames, strict=strict)
    return FrameIterator(opened, background)


def probe(
    source: Source, *, max_pixels: int | None = DEFAULT_MAX_PIXELS, strict: bool = True
) -> ImageInfo:
    """Read the headers: size, frame count, delays, format. Cheap for a GIF (no decompression).

    For WebP/APNG the delays are only known per frame, so their frames are decoded (and dropped).
    """
    opened = _Opened(source, max_pixels=max_pixels, max_frames=None, strict=strict)
    try:
        durations = opened.durations_ms
        if durations is None:
            durations = [delay for _, delay in opened.frames((255, 255, 255))]
        return ImageInfo(
            source=opened.name,
            format=opened.format,
            width=opened.width,
            height=opened.height,
            n_frames=len(durations),
            durations_ms=durations,
            truncated=opened.error is not None,
            error=opened.error,
        )
    finally:
        opened.close()


__all__ = [
    "DEFAULT_MAX_PIXELS",
    "MIN_DELAY_MS",
    "SLOW_DELAY_MS",
    "DecodedGif",
    "Frame",
    "FrameIterator",
    "ImageInfo",
    "effective_duration_ms",
    "iter_frames",
    "probe",
    "read_gif",
]
