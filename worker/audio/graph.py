"""The CLI's filter graph, ``abuffer → aformat=flt:mono:R → abuffersink``, through PyAV.

``ffmpeg -ac 1 -ar R -f f32le`` builds this graph and lets libavfilter insert ``aresample``
with swresample's default options: that one filter downmixes (ffmpeg's mono matrix for the
frame's channel layout) and resamples. Building the same graph gives the same samples.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from av.audio.frame import AudioFrame
    from av.filter import Graph

#: ffmpeg's default layout per channel count (``av_channel_layout_default``).
_DEFAULT_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "4.0", 5: "5.0", 6: "5.1", 7: "6.1",
                    8: "7.1"}  # fmt: skip

#: What a graph is built for: the input's sample rate, sample format and channel layout.
GraphKey = tuple[int, str, str]


class MonoGraph:
    """Frames in, mono float32 blocks at the target rate out, as the CLI's graph gives them."""

    def __init__(self, target_rate: int) -> None:
        self.target_rate = target_rate
        self._graph: Graph | None = None
        self._key: GraphKey | None = None

    def push(self, frame: AudioFrame) -> list[np.ndarray]:
        """Convert one frame; the blocks the graph has ready come back."""
        key = (frame.sample_rate, frame.format.name, _layout_name(frame))
        blocks = []
        if key != self._key:  # the CLI re-builds its graph when the input changes, unflushed
            blocks = self._pull() if self._graph is not None else []
            self._graph, self._key = _build(key, self.target_rate), key
        assert self._graph is not None
        frame.pts = None  # the CLI's graph has no async resampling: timestamps change nothing
        self._graph.push(frame)
        return blocks + self._pull()

    def flush(self) -> list[np.ndarray]:
        """Drain the resampler at the end of the input."""
        if self._graph is None:
            return []
        self._graph.push(None)
        return self._pull()

    def _pull(self) -> list[np.ndarray]:
        assert self._graph is not None
        blocks: list[np.ndarray] = []
        while True:
            try:
                out = self._graph.pull()
            except (BlockingIOError, EOFError):  # PyAV's EAGAIN and AVERROR_EOF subclass these
                return blocks
            blocks.append(out.to_ndarray().reshape(-1))


def _layout_name(frame: AudioFrame) -> str:
    """The frame's layout, or the default for its channel count where the file names none.

    ffmpeg's CLI guesses the default layout for an unnamed one before it builds its graph
    (``guess_input_channel_layout``), so a plain 6-channel WAV downmixes as 5.1.
    """
    name = frame.layout.name
    channels = len(frame.layout.channels)
    if name.endswith("channels") or name.startswith("unknown"):
        return _DEFAULT_LAYOUTS.get(channels, name)
    return str(name)


def _build(key: GraphKey, target_rate: int) -> Graph:
    """abuffer → aformat=flt:mono:R → abuffersink; libavfilter inserts the aresample."""
    from av.filter import Graph

    rate, sample_fmt, layout = key
    graph = Graph()
    source = graph.add(
        "abuffer",
        sample_rate=str(rate),
        sample_fmt=sample_fmt,
        channel_layout=layout,
        time_base=f"1/{rate}",
    )
    aformat = graph.add(
        "aformat", sample_fmts="flt", sample_rates=str(target_rate), channel_layouts="mono"
    )
    sink = graph.add("abuffersink")
    source.link_to(aformat)
    aformat.link_to(sink)
    graph.configure()
    return graph
