"""Decoding, downmixing and resampling (worker/audio/), checked against the corpus and
ffmpeg's own libraries.

Files have one decoder, the reference's (``ffmpeg -i pipe:0 -ac 1 -ar R -f f32le`` in process);
the tests that held the removed libsndfile + soxr path to the same faults now hold it.
"""

from __future__ import annotations

import io
import math
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from producer.errors import (
    DecodeFailed,
    EarmarkError,
    InvalidReference,
    TooLarge,
    UnsupportedFormat,
)
from tests.corpus import (
    CORPUS,
    Clip,
    encode,
    encode_soundfile,
    flac_total_samples,
    signal,
    wav_header,
    write_corpus,
)
from worker.audio import DecodedAudio, decode_array, decode_file
from worker.audio.arrays import mono_gains, to_mono
from worker.audio.sinc import MAX_KERNEL_VALUES, kernel_values, sinc_kernel, sinc_resample

SQRT1_2 = math.sqrt(0.5)
#: Largest difference allowed between our mono mix and libswresample's: float32 rounding only.
MIX_TOLERANCE = 1e-5
#: Quantisation step of each PCM subtype, full scale 1.0.
#: float32's step just under full scale (values in [0.5, 1)): 2**-24.
FLOAT32_STEP = 2**-24
PCM_STEP = {"PCM_U8": 2**-7, "PCM_16": 2**-15, "PCM_24": 2**-23, "PCM_32": 2**-31}
#: Mono gains of the corpus files whose container names their channels, as ffmpeg reads them:
#: libsndfile's WAVE_FORMAT_EXTENSIBLE mask for 4 channels is quad (FL FR BL BR), and FLAC's
#: 3-channel assignment is FL FR FC. Every other file's layout is guessed from its count.
NAMED_GAINS = {
    "wavex_44k_4ch.wav": [SQRT1_2, SQRT1_2, 0.5, 0.5],
    "flac_16k_3ch.flac": [SQRT1_2, SQRT1_2, 1.0],
}
#: Samples in one MPEG audio frame at 32-48 kHz: the most encoder padding ffmpeg keeps when it
#: reads an MP3 as a pipe (a seekable read trims it; docs/exactness.md, "Decoding as the
#: reference decodes").
MP3_FRAME = 1152


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every corpus file, written once."""
    return write_corpus(tmp_path_factory.mktemp("corpus"))


def decode(data: bytes, rate: int = 16_000, max_seconds: float = 60) -> DecodedAudio:
    """A file's bytes through the one decoder, to mono at `rate`."""
    return decode_file(data, target_rate=rate, max_seconds=max_seconds)


def pyav_mono(data: bytes, rate: int) -> np.ndarray:
    """What ``ffmpeg -ac 1 -ar rate -f f32le`` gives, through PyAV's libswresample."""
    out = []
    with av.open(io.BytesIO(data), "r") as source:
        mixer = av.AudioResampler(format="flt", layout="mono", rate=rate)
        try:
            for frame in source.decode(audio=0):
                out += [f.to_ndarray().reshape(-1) for f in mixer.resample(frame)]
        except av.FFmpegError:
            pass  # a truncated tail; ffmpeg keeps what decoded, as we do
        out += [f.to_ndarray().reshape(-1) for f in mixer.resample(None)]
    return np.concatenate(out)


@pytest.mark.parametrize("clip", CORPUS, ids=lambda c: c.name)
def test_corpus_file_decodes_to_its_rate_channels_and_duration(
    clip: Clip, corpus: dict[str, Path]
) -> None:
    data = corpus[clip.name].read_bytes()
    if clip.error is not None:
        with pytest.raises(EarmarkError) as raised:
            decode(data)
        assert raised.value.code == clip.error
        return
    audio = decode(data)
    assert audio.waveform.dtype == np.float32 and audio.waveform.ndim == 1
    assert (audio.sample_rate, audio.channels) == (clip.decoded_rate or clip.rate, clip.channels)
    assert abs(audio.waveform.size - audio.duration_s * 16_000) <= 1
    if clip.truncated:
        assert 0.1 < audio.duration_s < clip.seconds
    elif clip.lossy:  # encoders add up to two codec frames of priming and padding
        assert clip.seconds - 0.01 <= audio.duration_s <= clip.seconds + 2048 / clip.rate + 0.01
    else:
        assert round(audio.duration_s * audio.sample_rate) == round(clip.seconds * clip.rate)


@pytest.mark.parametrize(
    "clip",
    [c for c in CORPUS if c.error is None and not c.lossy and not c.truncated],
    ids=lambda c: c.name,
)
def test_lossless_files_decode_to_the_samples_written(clip: Clip, corpus: dict[str, Path]) -> None:
    """Given a lossless file decoded at its own rate, the samples are those written, mixed with
    ffmpeg's gains for the layout the file names (or ffmpeg guesses): catches a wrong sample
    format or scale handed to the graph, and a named layout taken for a guessed one."""
    audio = decode(corpus[clip.name].read_bytes(), rate=clip.rate)
    step = PCM_STEP.get(clip.subtype or "", 2**-15 if clip.fmt in ("FLAC", "AIFF") else 1e-7)
    gains = np.array(NAMED_GAINS.get(clip.name, mono_gains(clip.channels)), np.float32)
    written = np.clip(signal(clip), -1.0, 1.0 - step) @ gains  # PCM cannot hold +1.0
    # 32-bit PCM's step (2**-31) is finer than float32's near full scale: each channel is
    # rounded to float32 before the mix (PyAV 18.1.1's ffmpeg does), so no closer than that.
    held = max(step, FLOAT32_STEP)
    np.testing.assert_allclose(audio.waveform, written, atol=held * float(gains.sum()))


@pytest.mark.parametrize("clip", [c for c in CORPUS if c.error is None], ids=lambda c: c.name)
def test_the_mono_mix_equals_libswresample_ac1_at_the_same_rate(
    clip: Clip, corpus: dict[str, Path]
) -> None:
    """Given any corpus file decoded at its own rate, the mix is libswresample's: catches a
    graph that mixes or converts otherwise than ffmpeg's own resampler."""
    data = corpus[clip.name].read_bytes()
    rate = clip.decoded_rate or clip.rate
    ours, theirs = decode(data, rate=rate).waveform, pyav_mono(data, rate)
    if clip.fmt == "MP3":  # read as a pipe, ffmpeg keeps the encoder's padding
        assert len(theirs) <= len(ours) <= len(theirs) + MP3_FRAME
        ours = ours[: len(theirs)]
    np.testing.assert_allclose(ours, theirs, atol=MIX_TOLERANCE)


@pytest.mark.parametrize("channels", range(1, 9))
def test_downmix_of_unnamed_channels_matches_ffmpeg_impulse_by_impulse(channels: int) -> None:
    """Every channel's gain, for a file and for the same samples as an array, is ffmpeg's:
    catches a wrong guessed layout (3 channels are 2.1: the third is LFE and dropped)."""
    # Given one impulse per channel in a plain WAV, where ffmpeg guesses the layout from the count
    impulses = np.zeros((8 * channels, channels), np.float32)
    for c in range(channels):
        impulses[8 * c + 4, c] = 0.25
    data = encode_soundfile(impulses, 16_000, "WAV", "FLOAT")
    # When the decoder, the array path and ffmpeg mix it down
    from_file = decode(data, max_seconds=1).waveform
    from_array = decode_array(impulses, target_rate=16_000, max_seconds=1).waveform
    theirs = pyav_mono(data, 16_000)
    # Then every channel's gain is the same
    np.testing.assert_allclose(from_file, theirs, atol=MIX_TOLERANCE)
    np.testing.assert_allclose(from_array, theirs, atol=MIX_TOLERANCE)


def test_measured_mono_gains() -> None:
    assert mono_gains(1).tolist() == [1.0]
    np.testing.assert_allclose(mono_gains(2), [SQRT1_2, SQRT1_2])  # (L+R)/sqrt(2), not /2
    np.testing.assert_allclose(mono_gains(3), [SQRT1_2, SQRT1_2, 0.0])  # guessed as 2.1
    np.testing.assert_allclose(mono_gains(6), [SQRT1_2, SQRT1_2, 1.0, 0.0, 0.5, 0.5])
    np.testing.assert_allclose(mono_gains(12), np.full(12, 1 / 12))


def test_full_scale_stereo_is_neither_normalised_nor_clipped() -> None:
    ones = np.ones((1_600, 2), np.float32)
    np.testing.assert_allclose(to_mono(ones), math.sqrt(2), rtol=1e-6)
    from_file = decode(encode_soundfile(ones, 16_000, "WAV", "FLOAT"), max_seconds=1).waveform
    np.testing.assert_allclose(from_file, math.sqrt(2), rtol=1e-6)


def test_signals_survive_decoding(corpus: dict[str, Path]) -> None:
    def read(name: str, rate: int) -> np.ndarray:
        return decode(corpus[name].read_bytes(), rate=rate).waveform

    assert not read("silence.wav", 16_000).any()
    clipped = np.clip(signal(Clip("x", signal="clipped", channels=2)), -1.0, 1.0)
    assert np.abs(read("clipped_float.wav", 16_000)).max() == pytest.approx(
        np.abs(to_mono(clipped)).max(), rel=1e-6
    )
    assert read("clipped_pcm16.wav", 16_000).max() == pytest.approx(1.0, abs=2**-14)
    assert read("dc_offset.wav", 11_025).mean() == pytest.approx(0.25, abs=0.01)


def test_header_claiming_2_31_frames_is_not_allocated() -> None:
    # Given a WAV header announcing 2**31 16-bit frames in front of 0.1 s of samples
    samples = (signal(Clip("x", seconds=0.1)) * 32767).astype("<i2").tobytes()
    data = wav_header(16_000, 1, 2**32 - 2) + samples
    # When it is decoded
    tracemalloc.start()
    try:
        audio = decode(data, max_seconds=600_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # Then the samples that are there come back, and no 4 GiB buffer was made for the claim
    assert audio.waveform.shape == (1600,) and audio.duration_s == pytest.approx(0.1)
    assert peak < 32 * 2**20


def test_max_seconds_is_enforced_from_the_header_and_while_streaming(
    corpus: dict[str, Path],
) -> None:
    thirty = corpus["flac_8k_30s.flac"].read_bytes()
    audio = decode(thirty, max_seconds=30)
    assert audio.duration_s == 30.0 and audio.waveform.size == 30 * 16_000
    with pytest.raises(TooLarge, match="the header says so"):  # STREAMINFO's claim
        decode(thirty, max_seconds=29.9)
    with pytest.raises(TooLarge, match="the header says so"):  # the MP4's claim
        decode(corpus["aac_44k_stereo.m4a"].read_bytes(), max_seconds=0.5)
    with pytest.raises(TooLarge) as raised:  # no claim: counted while decoding
        decode(flac_total_samples(thirty, 0), max_seconds=29.9)
    assert "header" not in str(raised.value)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples_fail(bad: float) -> None:
    x = signal(Clip("x", seconds=0.1))
    x[100, 0] = bad
    with pytest.raises(DecodeFailed):
        decode(encode_soundfile(x, 16_000, "WAV", "FLOAT"), max_seconds=1)
    with pytest.raises(DecodeFailed):
        decode_array({"array": x, "sampling_rate": 16_000}, target_rate=16_000, max_seconds=1)


@pytest.mark.parametrize(
    ("rate", "channels", "error"),
    [(500, 1, DecodeFailed), (1_000_000, 1, DecodeFailed), (16_000, 40, UnsupportedFormat)],
)
def test_implausible_headers_are_refused(rate: int, channels: int, error: type[Exception]) -> None:
    data = wav_header(rate, channels, 4000) + bytes(4000)
    with pytest.raises(error):
        decode(data)


@pytest.mark.parametrize(
    ("item", "error"),
    [
        ({"array": np.zeros(1_000, np.float32), "sampling_rate": 500}, DecodeFailed),
        ({"array": np.zeros((1_000, 40), np.float32), "sampling_rate": 16_000}, UnsupportedFormat),
        ({"array": np.zeros(32_000, np.float32), "sampling_rate": 16_000}, TooLarge),
        ({"array": np.zeros((0,), np.float32), "sampling_rate": 16_000}, DecodeFailed),
        ({"array": np.zeros(100, np.float32), "sampling_rate": 16_000.0}, InvalidReference),
        ({"sampling_rate": 16_000}, InvalidReference),
        # 44,101 and 16,000 share no divisor: torchaudio's kernel would take 2.8 GB
        ({"array": np.zeros(4_410, np.float32), "sampling_rate": 44_101}, DecodeFailed),
    ],
    ids=["rate", "channels", "duration", "empty", "float_rate", "no_array", "coprime_rate"],
)
def test_arrays_are_held_to_the_files_bounds(item: dict[str, Any], error: type[Exception]) -> None:
    """Given an array input, the same rate, channel and duration bounds as a file's apply."""
    with pytest.raises(error):
        decode_array(item, target_rate=16_000, max_seconds=1)


@pytest.mark.parametrize(
    "data",
    [
        b"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n",
        b"ffconcat version 1.0\nfile /etc/passwd\n",
        b"<?xml version='1.0'?><MPD><BaseURL>http://169.254.169.254/</BaseURL></MPD>",
    ],
)
def test_playlists_never_reach_ffmpeg(data: bytes) -> None:
    # ffmpeg's own probing would open the files and URLs these name; we pick the demuxer.
    with pytest.raises(UnsupportedFormat):
        decode(data, max_seconds=1)


#: Small valid files whose mutations the fuzz test feeds to the decoder.
FUZZ_SEEDS = [
    encode(Clip("s", fmt=fmt, subtype=sub, seconds=0.1, rate=rate, channels=2))
    for fmt, sub, rate in [
        ("WAV", "PCM_16", 16_000), ("FLAC", "PCM_16", 16_000), ("OGG", "VORBIS", 16_000),
        ("MP3", "MPEG_LAYER_III", 16_000), ("m4a", None, 16_000), ("webm", None, 48_000),
    ]
]  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A seed file with a few bytes overwritten, a slice cut out, or its tail dropped."""
    data = bytearray(draw(st.sampled_from(FUZZ_SEEDS)))
    for _ in range(draw(st.integers(0, 8))):
        at = draw(st.integers(0, len(data) - 1))
        data[at] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        start = draw(st.integers(0, len(data)))
        del data[start : start + draw(st.integers(0, 64))]
    return bytes(data[: draw(st.integers(0, len(data)))])


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
@given(data=mutated())
def test_mutated_files_only_ever_raise_earmark_errors(data: bytes) -> None:
    try:
        audio = decode(data, max_seconds=5)
    except EarmarkError:
        return
    assert audio.waveform.dtype == np.float32 and np.isfinite(audio.waveform).all()


def test_sinc_resample_is_torchaudios_kernel_and_length() -> None:
    """Given 0.5 s at 44.1 kHz, the array resampler keeps the band and torchaudio's length
    (ceil(new * n / orig)) and its kernel shape (new, 2 * width + orig)."""
    tone = to_mono(signal(Clip("x", rate=44_100, seconds=0.5)))
    np.testing.assert_array_equal(sinc_resample(tone, 44_100, 44_100), tone)
    down = sinc_resample(tone, 44_100, 16_000)
    assert down.dtype == np.float32 and down.size == math.ceil(160 * tone.size / 441)
    expected = to_mono(signal(Clip("x", seconds=0.5)))
    np.testing.assert_allclose(down[50:-50], expected[50:-50], atol=2e-3)
    kernel, width = sinc_kernel(441, 160)
    assert kernel.shape == (160, 2 * width + 441) and width == math.ceil(6 * 441 / (160 * 0.99))


def test_pyav_is_imported_on_the_first_file_not_at_start_up() -> None:
    """Given a fresh interpreter, loading the pipeline's modules leaves PyAV (~17 MB) unloaded."""
    code = (
        "import sys, worker.classification, worker.inputs, worker.audio;"
        " sys.exit('av' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.mark.parametrize("rate", [8_000, 11_025, 22_050, 24_000, 32_000, 44_100, 48_000, 96_000])
def test_every_usual_rates_kernel_is_far_under_the_cap(rate: int) -> None:
    """The kernel cap refuses only rate pairs with a tiny common divisor, never a usual rate."""
    assert kernel_values(rate, 16_000) * 50 < MAX_KERNEL_VALUES
