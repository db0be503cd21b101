# The Python workload of run-program-test: Debian's unmodified python3 works its standard library
# hard while every object it makes comes from malloc, and prints only results that do not depend on
# where anything sits in memory (checksums, counts, sums; never addresses, ids or timings). Run on
# glibc and on a preloaded allocator, the two outputs must be byte-identical: any difference is a
# block handed out twice, freed early, clobbered, or sized wrong.
#
# It must run with PYTHONMALLOC=malloc: by default CPython serves every object up to 512 bytes from
# its own pools (pymalloc) and asks malloc only for 256 KiB arenas, so the allocator under test
# would see a few hundred calls instead of millions. PYTHONHASHSEED=0 fixes the iteration order of
# str-keyed sets and dicts, so the output is the same from run to run. The script refuses to run
# without both, so a hand run cannot silently test nothing.
#
# Sections free what they built before the next one starts (del + gc.collect), so blocks are
# reused across size classes. The threaded section hands objects from the thread that made them to
# another that frees them: cross-thread frees are where per-thread caches go wrong.

import bisect
import collections
import dataclasses
import decimal
import fractions
import gc
import hashlib
import heapq
import io
import itertools
import json
import math
import os
import pickle
import queue
import random
import re
import string
import struct
import sys
import textwrap
import threading
import zlib

if os.environ.get("PYTHONMALLOC") != "malloc" or os.environ.get("PYTHONHASHSEED") != "0" \
        or sys.flags.ignore_environment:
    sys.exit("python_workload.py: run with PYTHONMALLOC=malloc PYTHONHASHSEED=0 (and without -E/-I);"
             " see the comment at the top")


def digest(value):
    """A short checksum of a value's deterministic text form."""
    if not isinstance(value, (bytes, bytearray)):
        value = repr(value).encode()
    return hashlib.sha256(value).hexdigest()[:16]


def report(section, **results):
    print(section + ": " + " ".join(f"{k}={v}" for k, v in results.items()))


def section_containers(rng):
    # Many small dicts, lists and tuples, grouped, sorted on several keys, then thinned out and
    # grown again so freed blocks of every small size are handed out a second time.
    words = ["".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(3, 12)))
             for _ in range(5000)]
    records = []
    for i in range(120_000):
        records.append({
            "id": i,
            "name": words[i % len(words)],
            "tags": [words[(i * 7 + k) % len(words)] for k in range(i % 5)],
            "point": (i % 97, i % 89, float(i % 83) / 7.0),
            "score": rng.randint(-1000, 1000),
        })
    by_name = collections.defaultdict(list)
    for r in records:
        by_name[r["name"]].append(r["id"])
    ordered = sorted(records, key=lambda r: (r["name"], -r["score"], r["id"]))
    order_digest = digest([r["id"] for r in ordered[::37]])
    # Delete two thirds, shrink every survivor's tag list, then refill.
    survivors = [r for r in records if r["id"] % 3 == 0]
    del records, ordered
    gc.collect()
    for r in survivors:
        r["tags"] = r["tags"][:1]
        if r["id"] % 4:
            r["extra"] = {"k" + str(j): j * r["score"] for j in range(r["id"] % 4)}
    for i in range(40_000):
        survivors.append({"id": 1_000_000 + i, "name": words[-1 - i % 100], "tags": [],
                          "point": (i,), "score": i % 17})
    total = sum(r["score"] for r in survivors)
    tuples = sorted(tuple(sorted(r.keys())) for r in survivors[:5000])
    report("containers", groups=len(by_name), largest_group=max(len(v) for v in by_name.values()),
           order=order_digest, survivors=len(survivors), score_sum=total,
           key_shapes=len(set(tuples)), digest=digest(sorted(r["id"] for r in survivors)[-50:]))


def section_strings(rng):
    # String building, slicing and formatting: each produces a fresh str of a new length, which
    # exercises realloc-style growth (join, +=) and many short-lived small blocks.
    out = []
    for i in range(60_000):
        x = rng.random() * 10 ** rng.randint(-5, 8)
        out.append(f"{i:>8d}|{x:.6e}|{x:12.4f}|{i:#x}|{i:o}|{i:b}|{x!r:.10}|{-i:+,d}")
        out.append("%-10s %05d %.3g %s" % (words_for(i), i, x, (i, i * 2)))
        out.append("{0:^20}{1:*<12}{2:.2%}".format("c" * (i % 19), i % 1000, (i % 997) / 997))
    text = "\n".join(out)
    s = ""
    for i in range(20_000):
        s += str(i)
        if len(s) > 5000:
            s = s[len(s) // 3:]
    pieces = text.split("|")
    upper = text.upper().replace("E+", "e plus ").encode("utf-8").decode("utf-8")
    wrapped = textwrap.fill(" ".join(pieces[:4000]), width=71)
    utf = "".join(chr(0x400 + (i % 300)) + chr(0x4E00 + i % 500) for i in range(30_000))
    report("strings", lines=len(out), chars=len(text), digest=digest(text.encode()),
           rolling=digest(s), pieces=len(pieces), upper=digest(upper.encode()),
           wrapped=digest(wrapped.encode()), utf8_bytes=len(utf.encode("utf-8")),
           utf16_bytes=len(utf.encode("utf-16-le")))


def words_for(i):
    return "w" + "abcdefghij"[i % 10] * (i % 7)


def section_json(rng):
    # Round trips through json: every load builds a fresh tree of dicts, lists, strs, ints and
    # floats, every dump a growing output buffer.
    def tree(depth):
        if depth == 0 or rng.random() < 0.2:
            return rng.choice([rng.randint(-10 ** 12, 10 ** 12), rng.random(), None, True,
                               "s" * rng.randint(0, 40), "\u00e9\u4e2d\U0001f600"])
        if rng.random() < 0.5:
            return [tree(depth - 1) for _ in range(rng.randint(0, 6))]
        return {f"key{rng.randint(0, 50)}": tree(depth - 1) for _ in range(rng.randint(0, 6))}

    docs = [tree(6) for _ in range(1000)]
    dumped_total = 0
    hasher = hashlib.sha256()
    for round_ in range(3):
        for i, doc in enumerate(docs):
            text = json.dumps(doc, sort_keys=True, indent=(None if i % 2 else 2),
                              ensure_ascii=bool(round_ % 2))
            back = json.loads(text)
            assert back == doc, "json round trip changed a document"
            docs[i] = back  # drop the old tree, keep the new one
            dumped_total += len(text)
            hasher.update(text.encode())
    big = json.dumps(docs, sort_keys=True)
    report("json", docs=len(docs), dumped_chars=dumped_total, digest=hasher.hexdigest()[:16],
           big_len=len(big), big_digest=digest(big.encode()))


def section_re(rng):
    # Compiled patterns, matching over a large text, substitution with a callback (a new str per
    # match) and splitting.
    vocabulary = ["alpha", "beta", "gamma", "delta", "x1", "y22", "z333", "2024-01-31",
                  "1999-12-01", "foo@example.org", "bar.baz@test.net", "3.14159", "-42"]
    text = " ".join(rng.choice(vocabulary) for _ in range(150_000))
    dates = re.findall(r"(\d{4})-(\d{2})-(\d{2})", text)
    emails = re.findall(r"[\w.]+@[\w.]+\.\w+", text)
    numbers = [float(m) for m in re.findall(r"(?<![\w.])-?\d+\.\d+|(?<![\w.-])-\d+", text)]
    swapped = re.sub(r"(\w+)@(\w+)", lambda m: m.group(2).upper() + "#" + m.group(1), text)
    words = re.split(r"\s+|[.@-]", text)
    patterns = [re.compile(p) for p in (r"^a.*a$", r"(?i)GAMMA|delta", r"\b[xyz]\d+\b")]
    counts = [sum(1 for w in words if p.search(w)) for p in patterns]
    report("re", dates=len(dates), emails=len(emails), number_sum=f"{sum(numbers):.5f}",
           swapped=digest(swapped.encode()), words=len(words), pattern_counts=counts)


def section_collections(rng):
    counter = collections.Counter()
    for _ in range(200_000):
        counter["k" + str(rng.randint(0, 3000))] += 1
    common = counter.most_common(10)
    od = collections.OrderedDict()
    for i in range(50_000):
        od[i % 7000] = i
        if i % 3 == 0 and i % 500 in od:
            od.move_to_end(i % 500, last=False)
        if i % 11 == 0 and od:
            od.popitem(last=bool(i % 2))
    dq = collections.deque(maxlen=10_000)
    for i in range(100_000):
        dq.append(i) if i % 5 else dq.appendleft(-i)
        if i % 1000 == 0:
            dq.rotate(i % 37)
    Point = collections.namedtuple("Point", "x y z")
    points = [Point(i % 13, i % 17, i % 19) for i in range(50_000)]
    chain = collections.ChainMap({"a": 1}, {"b": 2}, dict(counter))
    heap = [(rng.random(), i) for i in range(50_000)]
    heapq.heapify(heap)
    smallest = [heapq.heappop(heap)[1] for _ in range(1000)]
    sorted_list = []
    for i in range(20_000):
        bisect.insort(sorted_list, (i * 7919) % 20011)
    report("collections", distinct=len(counter), common=digest(common), od=digest(list(od.items())),
           deque=digest(list(dq)), points=sum(p.x * p.y - p.z for p in points),
           chain=len(chain), heap=digest(smallest), insort=digest(sorted_list[::97]))


def section_numbers():
    # decimal (libmpdec coefficients are malloc'ed), fractions and big ints: many objects whose
    # sizes grow with the numbers.
    decimal.getcontext().prec = 60
    D = decimal.Decimal
    roots = [D(i).sqrt() for i in range(1, 3000)]
    root_sum = sum(roots)
    exps = sum(D(i) / 1000 for i in range(20_000)).exp()
    quantized = [r.quantize(D("0.0001"), rounding=decimal.ROUND_HALF_EVEN) for r in roots[:500]]
    harmonic = sum(fractions.Fraction(1, n) for n in range(1, 1500))
    continued = fractions.Fraction(1)
    for _ in range(300):
        continued = 1 + 1 / continued
    sys.set_int_max_str_digits(0)  # the factorial has about 9,000 digits: past 3.11's default limit
    fact = math.factorial(3000)
    fib = [0, 1]
    for _ in range(5000):
        fib.append(fib[-1] + fib[-2])
    report("numbers", root_sum=str(root_sum)[:40], exp=str(exps)[:30], quantized=digest(quantized),
           harmonic_digits=len(str(harmonic.denominator)), harmonic=digest(str(harmonic)),
           golden=str(decimal.Decimal(continued.numerator) / continued.denominator)[:40],
           fact_digits=len(str(fact)), fact_digest=digest(str(fact)), fib_digest=digest(fib[-1]))


def section_generators(rng):
    # A lazy pipeline: each stage creates and drops small tuples one item at a time.
    def source(n):
        for i in range(n):
            yield (i, rng.randint(0, 1000), "item%d" % i)

    def only_even(items):
        return (it for it in items if it[1] % 2 == 0)

    def enrich(items):
        for i, v, name in items:
            yield {"i": i, "v": v, "name": name, "square": v * v}

    stage = enrich(only_even(source(300_000)))
    keyed = ((d["v"] // 100, d["square"]) for d in stage)
    grouped = {}
    for k, group in itertools.groupby(sorted(keyed), key=lambda kv: kv[0]):
        grouped[k] = sum(s for _, s in group)
    running = list(itertools.accumulate(grouped.values()))
    pairs = sum(1 for _ in itertools.combinations(range(300), 2))
    prod = sum(a * b for a, b in itertools.product(range(200), repeat=2))
    report("generators", groups=len(grouped), running=running[-1], digest=digest(sorted(grouped.items())),
           pairs=pairs, product=prod)


class Shape:
    kind = "shape"
    __slots__ = ()

    def area(self):
        raise NotImplementedError

    def describe(self):
        return f"{self.kind}:{self.area():.4f}"


class Rect(Shape):
    kind = "rect"
    __slots__ = ("w", "h")

    def __init__(self, w, h):
        self.w, self.h = w, h

    def area(self):
        return self.w * self.h


class Square(Rect):
    kind = "square"

    def __init__(self, side):
        super().__init__(side, side)


class Circle(Shape):
    kind = "circle"

    def __init__(self, r):
        self.r = r
        self.history = [r]

    def area(self):
        return math.pi * self.r * self.r


@dataclasses.dataclass(order=True)
class Tagged:
    weight: int
    label: str
    shapes: list = dataclasses.field(default_factory=list, compare=False)


def section_classes(rng):
    # Instances with and without __slots__ (per-object __dict__ blocks), dataclasses, reference
    # cycles that only the cycle collector frees.
    shapes = []
    for i in range(80_000):
        c = i % 3
        shapes.append(Rect(i % 10 + 1, i % 7 + 1) if c == 0 else Square(i % 13 + 1) if c == 1
                      else Circle((i % 11) / 3))
    descriptions = collections.Counter(s.describe() for s in shapes)
    tagged = [Tagged(rng.randint(0, 100), "t%d" % i, shapes[i::5000]) for i in range(5000)]
    tagged.sort()
    for a, b in zip(shapes[::2], shapes[1::2]):
        if isinstance(a, Circle) and isinstance(b, Circle):
            a.history.append(b)
            b.history.append(a)  # a cycle
    total_area = math.fsum(s.area() for s in shapes)
    del shapes
    gc.collect()
    report("classes", distinct=len(descriptions), common=digest(sorted(descriptions.items())[:20]),
           first=digest([(t.weight, t.label) for t in tagged[:100]]), area=f"{total_area:.6f}")


def section_serialization(rng):
    # pickle, zlib (its buffers come from PyMem, so from malloc) and struct round trips.
    data = {"ints": list(range(0, 200_000, 3)), "floats": [rng.random() for _ in range(20_000)],
            "strs": ["s%d" % i * (i % 5) for i in range(20_000)], "nested": [[i, (i,), {i: i}] for i in range(5000)]}
    blob = pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)
    packed = zlib.compress(blob, 6)
    assert pickle.loads(zlib.decompress(packed)) == data
    stream = io.BytesIO()
    for i in range(50_000):
        stream.write(struct.pack("<iqd8s", i, i * i, i / 3, b"%08d" % i))
    raw = stream.getvalue()
    unpacked = sum(struct.unpack_from("<iqd8s", raw, off)[1] for off in range(0, len(raw), struct.calcsize("<iqd8s")))
    report("serialization", pickle=digest(blob), zlib_len=len(packed), struct_sum=unpacked,
           raw=digest(raw))


def section_threads():
    # Producers build lists of dicts; consumers reduce and drop them, so most blocks are freed by a
    # thread other than the one that allocated them. The result is a sum: independent of which
    # consumer takes which batch.
    work = queue.Queue(maxsize=64)
    results = queue.Queue()

    def producer(seed, batches):
        rng = random.Random(seed)
        for b in range(batches):
            batch = [{"seed": seed, "b": b, "v": rng.randint(0, 10 ** 6), "s": "x" * rng.randint(0, 200)}
                     for _ in range(rng.randint(50, 400))]
            work.put(batch)

    def consumer():
        total = 0
        while True:
            batch = work.get()
            if batch is None:
                break
            total += sum(d["v"] + len(d["s"]) for d in batch)
            del batch
        results.put(total)

    producers = [threading.Thread(target=producer, args=(seed, 300)) for seed in range(4)]
    consumers = [threading.Thread(target=consumer) for _ in range(3)]
    for t in producers + consumers:
        t.start()
    for t in producers:
        t.join()
    for _ in consumers:
        work.put(None)
    for t in consumers:
        t.join()
    report("threads", total=sum(results.get() for _ in consumers))


def main():
    print(f"python {sys.version_info.major}.{sys.version_info.minor}")
    sections = [section_containers, section_strings, section_json, section_re, section_collections,
                section_numbers, section_generators, section_classes, section_serialization]
    for number, section in enumerate(sections):
        rng = random.Random(1000 + number)
        if section is section_numbers:
            section()
        else:
            section(rng)
        gc.collect()
    section_threads()
    print("done")


if __name__ == "__main__":
    main()
