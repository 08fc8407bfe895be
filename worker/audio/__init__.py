"""Audio: every input becomes mono float32 at the model's rate, as the transformers pipeline
makes it.

A file's bytes are decoded, downmixed and resampled as the pipeline's ffmpeg command line does
(`files`, through `containers` and `graph`); an array is mixed and resampled as the pipeline
resamples arrays (`arrays`, `sinc`). Either way the result is one `DecodedAudio`, held to one
set of bounds (`decoded`); a long recording is decoded as it streams in (`StreamedAudio`), by
the same code. PyAV is imported on the first file, not at start-up.
"""

from worker.audio.arrays import decode_array
from worker.audio.containers import sniff_container
from worker.audio.decoded import MAX_CHANNELS, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, DecodedAudio
from worker.audio.files import StreamedAudio, decode_file

__all__ = [
    "MAX_CHANNELS",
    "MAX_SAMPLE_RATE",
    "MIN_SAMPLE_RATE",
    "DecodedAudio",
    "StreamedAudio",
    "decode_array",
    "decode_file",
    "sniff_container",
]
