"""The measuring half of tools/bench-programs: runs each workload under each allocator, in
interleaved rounds, as separate processes, and writes programs.json, programs.md and programs.svg.
tools/bench-programs builds what it needs and calls this with the allocators to measure; run that,
not this.

Why a process per run, measured by wait4: an allocator's start-up, its page faults and its memory
at exit belong to what a program pays for it, and wait4's rusage gives exactly that process's user
and system time and its peak RSS (ru_maxrss), with nothing of the runner's own. The wait4 is done
by bench/workloads/run_measured.c, a small C program between this runner and the command, because
a process forked from this Python would start with Python's peak RSS (run_measured says why). A run that
exits non-zero, is killed, or prints anything other than what glibc's run of the same workload
printed is a failure: each workload prints a checksum of what it read back from its blocks, so an
allocator that corrupts a block, or a benchmark that silently computes something else, cannot pass
as fast. Times are reported as ratios against peers measured in the same rounds, because absolute
times on this shared machine move by 1.5-2x between days (NUMBERS.md).

The real programs are invoked exactly as tests/programs/run-program-test invokes them (its
make_workload and base_env, imported), without its loader tracing, which would be most of what is
timed.
"""

import argparse
import hashlib
import importlib.machinery
import importlib.util
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = 300  # the slowest run takes about 15 s here: this turns a hang into a failure
PROGRAM_TEST = ROOT / "tests" / "programs" / "run-program-test"


def load_program_test():
    loader = importlib.machinery.SourceFileLoader("run_program_test", str(PROGRAM_TEST))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


program_test = load_program_test()


class Workload:
    """argv of the full run and of the smoke run; bench-dir programs are named by their file."""

    def __init__(self, name, title, full, smoke, real_program=None):
        self.name, self.title = name, title
        self.full, self.smoke = full, smoke
        self.real_program = real_program  # run-program-test's name for it, for a real program


# The synthetic workloads' full sizes are their defaults (each takes 0.3-0.8 s under glibc here);
# the smoke sizes take a few milliseconds. The real programs' smoke runs are one-liners: the
# programs suite (tests/programs) runs their full workloads on the drop-in already.
WORKLOADS = [
    Workload("churn", "one thread, short-lived small blocks among long-lived ones",
             ["churn"], ["churn", "2000"]),
    Workload("pipeline", "producer/consumer, every block freed by the other thread",
             ["pipeline"], ["pipeline", "20000"]),
    Workload("larson", "larson-style server, 2 threads, tables handed between them",
             ["larson"], ["larson", "5"]),
    Workload("thread_churn", "short-lived threads, created and joined in a loop",
             ["thread_churn"], ["thread_churn", "20"]),
    Workload("large_blocks", "large blocks (64 KiB-4 MiB) to and from the OS",
             ["large_blocks"], ["large_blocks", "50"]),
    Workload("realloc_growth", "buffers grown by realloc (string builders, vectors)",
             ["realloc_growth"], ["realloc_growth", "20000"]),
    Workload("python", "python3 (PYTHONMALLOC=malloc) on tests/programs/python_workload.py",
             None, ["-c", "d = {str(i): [i] * (i % 7) for i in range(20000)}; "
                          "print(sum(len(v) for v in d.values()))"], real_program="python"),
    Workload("sqlite", "sqlite3 on tests/programs/sqlite_workload.sql",
             None, ["SELECT sum(length(printf('%0*d', x % 300, x))) FROM "
                    "(WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 20000) "
                    "SELECT x FROM n);"], real_program="sqlite"),
]

COLOURS = {  # one per allocator, fixed, so pictures of different runs read alike
    "glibc": "#7f7f7f", "mimalloc": "#1f77b4", "jemalloc": "#ff7f0e", "tcmalloc": "#2ca02c",
    "tcmalloc_minimal": "#98df8a", "scudo": "#9467bd", "nodealloc": "#d62728",
    "nodealloc-standard": "#f7a1a1",
}
HARDENED = {"nodealloc-standard": "scudo"}  # a hardened build's peer


def say(text, end="\n"):
    print(text, end=end, file=sys.stderr, flush=True)


class Allocator:
    def __init__(self, spec):
        self.name, self.library, environment = spec.split("|")
        self.env = dict([environment.split("=", 1)]) if environment else {}


# ---- running --------------------------------------------------------------------------------------

class Runner:
    def __init__(self, args):
        self.bench_dir = Path(args.bench_dir).resolve()
        self.scratch = Path(args.out).resolve() / "scratch"
        self.smoke = args.smoke
        self.nice = args.nice

    def command(self, workload):
        """argv, extra environment, stdin path of one run (a fresh sqlite database each time)."""
        if workload.real_program is None:
            argv = workload.smoke if self.smoke else workload.full
            return [str(self.bench_dir / argv[0])] + argv[1:], {}, None
        shutil.rmtree(self.scratch / "run", ignore_errors=True)
        (self.scratch / "run" / "tmp").mkdir(parents=True)
        made = program_test.make_workload(workload.real_program, self.scratch / "run")
        argv, stdin = made.argv, made.stdin
        if self.smoke:
            # The smoke's one-liner takes the place of the workload file (python) or of stdin (sqlite).
            argv = argv[:-1] + workload.smoke if workload.real_program == "python" else argv + workload.smoke
            stdin = None
        return argv, made.env, stdin

    def environment(self, allocator, extra, preload_variable="LD_PRELOAD"):
        env = program_test.base_env(self.scratch, self.scratch / "run")
        for tracing in ("LD_DEBUG", "LD_DEBUG_OUTPUT"):
            env.pop(tracing)
        env.update(extra)
        env.update(allocator.env)
        if allocator.library:
            env[preload_variable] = allocator.library
        return env

    def run(self, workload, allocator):
        """One process, through run_measured: a sample {wall_s, cpu_s, peak_rss_kib, status, output}."""
        argv, extra, stdin_path = self.command(workload)
        # run_measured preloads the allocator into the command only (it says why).
        env = self.environment(allocator, extra, preload_variable="BENCH_PRELOAD")
        (self.scratch / "home").mkdir(parents=True, exist_ok=True)
        stdout_path, stderr_path = self.scratch / "stdout", self.scratch / "stderr"
        result_path = self.scratch / "result"
        result_path.unlink(missing_ok=True)
        with open(stdin_path or os.devnull, "rb") as stdin, open(stdout_path, "wb") as stdout, \
                open(stderr_path, "wb") as stderr:
            # A session of its own, so a timeout kills the whole tree.
            process = subprocess.Popen([str(self.bench_dir / "run_measured"), str(result_path)] + argv,
                                       stdin=stdin, stdout=stdout, stderr=stderr, env=env,
                                       cwd=self.scratch, start_new_session=True,
                                       preexec_fn=(lambda: os.nice(self.nice)) if self.nice else None)
            try:
                process.wait(timeout=RUN_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        output = stdout_path.read_bytes()
        errors = " ".join(stderr_path.read_bytes().decode("utf-8", "replace").split())
        try:
            wall, user, system, peak_rss_kib, code = result_path.read_text().split()
        except (FileNotFoundError, ValueError):
            return {"wall_s": None, "cpu_s": None, "peak_rss_kib": None, "output": summary_of(output),
                    "status": f"not measured (run_measured exit {process.returncode}, "
                              f"timeout {RUN_TIMEOUT_S} s): {errors[:200]}"}
        code = int(code)
        status = "ok" if code == 0 else (f"killed by signal {code - 128}" if code > 128 else f"exit {code}")
        if status == "ok" and errors:
            # A loader that cannot preload the library only warns, and the run measures glibc.
            status = "wrote to stderr"
        if status != "ok":
            status += ": " + errors[:200]
        return {"wall_s": float(wall), "cpu_s": round(float(user) + float(system), 6),
                "peak_rss_kib": int(peak_rss_kib), "status": status, "output": summary_of(output)}

    def malloc_file(self, allocator):
        """The file malloc is bound to under this allocator, from a workload's --which-malloc."""
        argv = [str(self.bench_dir / "churn"), "--which-malloc"]
        done = subprocess.run(argv, env=self.environment(allocator, {}), capture_output=True, text=True)
        return done.stdout.strip(), done.stderr.strip()


def summary_of(output):
    """What a run printed, short: the checksum line itself, or a digest of a long output."""
    text = output.decode("utf-8", "replace").strip()
    if len(text) <= 80 and "\n" not in text:
        return text
    return f"sha256 {hashlib.sha256(output).hexdigest()[:16]} of {len(output)} bytes"


def preload_problem(runner, allocator):
    """Why this allocator cannot be measured, or None: its library missing, or malloc not bound to
    it (the loader only warns about a library it cannot preload)."""
    if allocator.library and not os.path.isfile(allocator.library):
        return f"library not found: {allocator.library}"
    bound, errors = runner.malloc_file(allocator)
    if allocator.library:
        if os.path.realpath(bound or "/nonexistent") != os.path.realpath(allocator.library):
            return f"malloc is not bound to {allocator.library} (got '{bound}': {errors[:200]})"
    elif not os.path.basename(bound).startswith("libc.so"):
        return f"malloc is not bound to libc (got '{bound}': {errors[:200]})"
    return None


# ---- statistics ---------------------------------------------------------------------------------

MEASURES = ("wall_s", "cpu_s", "peak_rss_kib")


def summarise(samples):
    """Per workload and allocator: median, min and max of each measure over the good rounds."""
    cells = {}
    for s in samples:
        if s["status"] == "ok":
            cells.setdefault(s["workload"], {}).setdefault(s["allocator"], []).append(s)
    medians = {}
    for workload, by_allocator in cells.items():
        for allocator, runs in by_allocator.items():
            medians.setdefault(workload, {})[allocator] = {
                m: {"median": statistics.median(r[m] for r in runs),
                    "min": min(r[m] for r in runs), "max": max(r[m] for r in runs)}
                for m in MEASURES} | {"rounds": len(runs)}
    return medians


def paired_ratio(samples, workload, name, other, measure):
    """Median over the rounds of name's figure / other's in the same round. A round runs every
    allocator on a workload back to back, so slow drifts of the machine cancel out of each round's
    ratio; the ratio of the two medians would keep them."""
    by_round = {}
    for s in samples:
        if s["workload"] == workload and s["status"] == "ok" and s["allocator"] in (name, other):
            by_round.setdefault(s["round"], {})[s["allocator"]] = s[measure]
    ratios = [r[name] / r[other] for r in by_round.values() if name in r and other in r and r[other] > 0]
    return statistics.median(ratios) if ratios else None


def best_peer(medians, workload, peers, measure):
    cells = medians.get(workload, {})
    present = [p for p in peers if p in cells]
    return min(present, key=lambda p: cells[p][measure]["median"]) if present else None


def comparisons(samples, medians, names, workloads):
    """For each nodealloc build and workload: time (wall) and peak RSS over its best peer's."""
    release_peers = [n for n in names if not n.startswith("nodealloc") and n not in HARDENED.values()]
    result = {}
    for build in (n for n in names if n.startswith("nodealloc")):
        peers = [HARDENED[build]] if build in HARDENED else release_peers
        for w in workloads:
            for measure in ("wall_s", "peak_rss_kib"):
                peer = best_peer(medians, w, peers, measure)
                ratio = paired_ratio(samples, w, build, peer, measure) if peer else None
                result.setdefault(build, {}).setdefault(w, {})[measure] = {"peer": peer, "ratio": ratio}
    return result


def geometric_mean(values):
    values = [v for v in values if v]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


# ---- reports ------------------------------------------------------------------------------------

def markdown(report):
    names, workloads = report["allocators"], report["workloads"]
    medians, compared = report["medians"], report["comparisons"]
    lines = []

    def row(cells):
        lines.append("| " + " | ".join(cells) + " |")

    meta = report["meta"]
    lines.append(f"`{meta['command']}`, {meta['date']}: {meta['machine']}; {meta['rounds']} interleaved "
                 f"round(s), cells are medians; load average {meta['load_before']} before the rounds, "
                 f"{meta['load_after']} after; {meta['seconds']:.0f} s in all.")
    lines.append("")
    builds = [b for b in ("nodealloc", "nodealloc-standard") if b in compared]
    if builds:
        lines.append("nodealloc over the best peer in the same rounds (the median of the rounds' "
                     "ratios; below 1 is faster or smaller). Time is wall time. The release build's "
                     "peers are " + ", ".join(n for n in names if not n.startswith("nodealloc")
                                              and n not in HARDENED.values())
                     + "; the standard (hardened) build's peer is scudo.")
        lines.append("")
        header = ["workload"]
        for b in builds:
            label = "release" if b == "nodealloc" else "standard"
            header += [f"{label} time", f"{label} peak RSS"]
        row(header)
        row(["---"] * len(header))

        def cell(entry):
            return f"{entry['ratio']:.2f} ({entry['peer']})" if entry["ratio"] is not None else "n/a"

        for w in workloads:
            cells = [w]
            for b in builds:
                cells += [cell(compared[b][w]["wall_s"]), cell(compared[b][w]["peak_rss_kib"])]
            row(cells)
        cells = ["geometric mean"]
        for b in builds:
            for measure in ("wall_s", "peak_rss_kib"):
                g = geometric_mean(compared[b][w][measure]["ratio"] for w in workloads)
                cells.append(f"{g:.2f}" if g else "n/a")
        row(cells)
        lines.append("")

    def absolute(title, measure, scale, digits):
        lines.append(title)
        lines.append("")
        row(["workload"] + [f"{n} {report['versions'][n]}".strip() if report["versions"].get(n) else n
                            for n in names])
        row(["---"] * (len(names) + 1))
        for w in workloads:
            cells = [w]
            for n in names:
                c = medians.get(w, {}).get(n)
                if c is None:
                    cells.append("n/a")
                    continue
                m = c[measure]
                spread = (f" ({m['min'] / scale:.{digits}f}-{m['max'] / scale:.{digits}f})"
                          if c["rounds"] > 1 else "")
                cells.append(f"{m['median'] / scale:.{digits}f}{spread}")
            row(cells)
        lines.append("")

    absolute("Wall time, s: median (min-max over the rounds)", "wall_s", 1, 2)
    absolute("CPU time (user + system), s: median (min-max)", "cpu_s", 1, 2)
    absolute("Peak RSS, MiB: median (min-max)", "peak_rss_kib", 1024, 1)
    lines.append("Workloads: " + "; ".join(f"{w.name}: {w.title}" for w in WORKLOADS
                                           if w.name in workloads) + ".")
    if report["failures"]:
        lines.append("")
        lines.append("Failures (not in the figures above):")
        lines += [f"- {f}" for f in report["failures"]]
    return "\n".join(lines) + "\n"


def svg(report):
    """Two panels, time and peak RSS, each workload a group of bars, one colour per allocator, both
    relative to glibc (the line at 1) so that workloads of every size share an axis. The axis is
    logarithmic: twice as slow and twice as fast are the same distance from 1."""
    workloads, medians = report["workloads"], report["medians"]
    names = [n for n in report["allocators"] if n != "glibc"]
    bar, gap, left, top_margin = 9, 16, 60, 74
    panel_height, label_height = 220, 90
    group = bar * len(names) + gap
    width = max(left + group * len(workloads) + 20, 640)
    low, high = 0.25, 8.0  # the axis, in multiples of glibc; beyond it a bar is cut and labelled
    panels = [("wall_s", "Wall time relative to glibc (lower is better)"),
              ("peak_rss_kib", "Peak RSS relative to glibc (lower is better)")]
    height = top_margin + len(panels) * (panel_height + label_height)
    meta = report["meta"]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="10" y="16" font-size="13">{escape(meta["command"])}</text>',
           f'<text x="10" y="32">{escape(meta["date"])}, {escape(meta["machine"])}; medians of '
           f'{meta["rounds"]} interleaved round(s)</text>']
    out.append('<line x1="10" y1="47" x2="24" y2="47" stroke="#444" stroke-width="2"/>')
    out.append('<text x="28" y="51">glibc = 1</text>')
    x = 96
    for n in names:  # the legend
        out.append(f'<rect x="{x}" y="42" width="10" height="10" fill="{COLOURS.get(n, "#000")}"/>')
        out.append(f'<text x="{x + 13}" y="51">{escape(n)}</text>')
        x += 22 + 6 * len(n)

    def y_of(value, top):
        fraction = (math.log2(high) - math.log2(min(max(value, low), high))) / math.log2(high / low)
        return top + fraction * panel_height

    for index, (measure, title) in enumerate(panels):
        top = top_margin + index * (panel_height + label_height) + 16
        out.append(f'<text x="{left}" y="{top - 8}" font-size="12">{title}</text>')
        tick = low
        while tick <= high:
            y = y_of(tick, top)
            line = 'stroke="#444" stroke-width="2"' if tick == 1 else 'stroke="#ddd"'
            out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 20}" y2="{y:.1f}" {line}/>')
            out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{tick:g}</text>')
            tick *= 2
        for g, w in enumerate(workloads):
            cells = medians.get(w, {})
            base = cells.get("glibc", {}).get(measure, {}).get("median")
            x0 = left + g * group + gap / 2
            for i, n in enumerate(names):
                if not base or n not in cells:
                    continue
                value = cells[n][measure]["median"] / base
                y1, y_base = y_of(value, top), y_of(1, top)
                y, h = min(y1, y_base), max(abs(y_base - y1), 1)
                bx = x0 + i * bar
                out.append(f'<rect x="{bx:.1f}" y="{y:.1f}" width="{bar - 1}" height="{h:.1f}" '
                           f'fill="{COLOURS.get(n, "#000")}"><title>{escape(n)} {escape(w)}: '
                           f'{value:.2f}x glibc</title></rect>')
                if value > high or value < low:  # cut by the axis: say by how much
                    # Neighbours' labels alternate between two lines so that they do not overlap.
                    ty = top - 2 - 8 * (i % 2) if value > high else top + panel_height + 9 + 8 * (i % 2)
                    out.append(f'<text x="{bx + bar / 2:.1f}" y="{ty:.1f}" font-size="8" '
                               f'text-anchor="middle">{value:.2g}</text>')
            lx, ly = x0 + bar * len(names) / 2 + 4, top + panel_height + 16
            out.append(f'<text x="{lx:.1f}" y="{ly:.1f}" text-anchor="end" '
                       f'transform="rotate(-30 {lx:.1f} {ly:.1f})">{escape(w)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def escape(text):
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# ---- main ---------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description="see tools/bench-programs")
    parser.add_argument("--allocator", action="append", required=True, help="name|library|NAME=value")
    parser.add_argument("--version", action="append", default=[], help="allocator=version")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", default="")
    parser.add_argument("--out", required=True)
    parser.add_argument("--bench-dir", required=True)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--nice", type=int, default=0)
    parser.add_argument("--command", default="tools/bench-programs")
    parser.add_argument("--machine", default="")
    args = parser.parse_args()

    known = [w.name for w in WORKLOADS]
    workloads = [w for w in WORKLOADS if not args.only or w.name in args.only.split(",")]
    unknown = set(filter(None, args.only.split(","))) - set(known)
    if unknown:
        say(f"bench-programs: no workload {', '.join(sorted(unknown))} (workloads: {' '.join(known)})")
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runner = Runner(args)
    failures = []
    allocators = []
    for allocator in map(Allocator, args.allocator):
        problem = preload_problem(runner, allocator)
        if problem:
            failures.append(f"{allocator.name}: {problem}")
            say(f"bench-programs: {allocator.name} not measured: {problem}")
        else:
            allocators.append(allocator)

    started = time.monotonic()
    load_before = open("/proc/loadavg").read().split()[0]
    samples = []
    expected = {}  # workload -> what glibc's (or else the first) run printed
    for round_ in range(1, args.rounds + 1):
        say(f"bench-programs: round {round_}/{args.rounds}:", end="")
        for w in workloads:
            say(f" {w.name}", end="")
            for a in allocators:
                sample = runner.run(w, a) | {"round": round_, "workload": w.name, "allocator": a.name}
                if sample["status"] == "ok":
                    want = expected.setdefault(w.name, sample["output"])
                    if sample["output"] != want:
                        sample["status"] = f"printed '{sample['output']}' where glibc's run printed '{want}'"
                if sample["status"] != "ok":
                    failures.append(f"{a.name} on {w.name}, round {round_}: {sample['status']}")
                    say(f" [{a.name} failed]", end="")
                samples.append(sample)
        say("")
    shutil.rmtree(runner.scratch, ignore_errors=True)

    names = [a.name for a in allocators]
    workload_names = [w.name for w in workloads]
    medians = summarise(samples)
    report = {
        "meta": {"command": args.command, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                 "machine": args.machine, "rounds": args.rounds, "smoke": args.smoke,
                 "load_before": load_before, "load_after": open("/proc/loadavg").read().split()[0],
                 "seconds": time.monotonic() - started,
                 "units": {"wall_s": "s", "cpu_s": "s (user + system)", "peak_rss_kib": "KiB (ru_maxrss)"}},
        "allocators": names,
        "libraries": {a.name: a.library for a in allocators},
        "versions": dict(v.split("=", 1) for v in args.version),
        "workloads": workload_names,
        "titles": {w.name: w.title for w in workloads},
        "samples": samples,
        "medians": medians,
        "comparisons": comparisons(samples, medians, names, workload_names),
        "failures": failures,
    }
    (out / "programs.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "programs.md").write_text(markdown(report))
    (out / "programs.svg").write_text(svg(report))
    say(f"bench-programs: wrote {out}/programs.json, programs.md and programs.svg "
        f"({report['meta']['seconds']:.0f} s of runs)")
    if failures:
        say(f"bench-programs: {len(failures)} failure(s):")
        for f in failures:
            say(f"  {f}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
