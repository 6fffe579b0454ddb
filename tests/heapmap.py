"""heapmap.py - checks of an SVG made by `srmemctl map` (tests/it_map.sh).

  heapmap.py MAP.svg REPORT.json NAME DBG
      MAP.svg is well-formed XML; its caption equals the one made here from
      shm.report's figures (REPORT.json, taken right after the map, the
      server quiet); the legend lists every class drawn, and for NAME
      "leak" (with DBG=1: modules known) the module leakmod; the pixels of
      each class, summed from the drawn paths, equal its data-pixels, and
      all of them fill the map; each state's share of the pixels is its
      share of the pool (report bytes / size) within TOLERANCE, widened by
      HEADER bytes per fragment of that state (a pixel counts a fragment's
      header with it, the report only its payload) and HEAP bytes of the
      backend's own; the largest free block is marked (group
      largest-free-1 with shm.report's max_free size and an outline).
  heapmap.py --compare HEALTHY.svg FRAGMENTED.svg LEAK.svg DBG
      the three differ as they should: the fragmented map changes colour
      along its rows far more often than the healthy one (row-runs per
      pixel), the leak's module holds over a third of the leak's pixels
      and none of the others, the healthy pool is mostly free.
"""
import json
import re
import sys
import xml.dom.minidom

PIXELS = 16384
TOLERANCE = 0.01        # one percentage point of the pool
HEADER = 96             # bytes a fragment may take beyond its payload
HEAP = 64 * 1024        # the backend's own bytes at the ends of the pool
RUN = re.compile(r"M(\d+) (\d+)h(\d+)v1h-(\d+)z")


def fmt_bytes(n):
    """srmemctl's units: "512 B", "1.5 KiB", "64.0 MiB"."""
    if -1024 < n < 1024:
        return "%d B" % n
    v, units = float(n), ["KiB", "MiB", "GiB", "TiB"]
    u = -1
    while (v >= 1024 or v <= -1024) and u < 3:
        v /= 1024
        u += 1
    return "%.1f %s" % (v, units[u])


def text(node):
    return "".join(t.data for t in node.childNodes if t.nodeType == t.TEXT_NODE)


def classes(doc):
    """[(state, module, pixels drawn, data-pixels, row-runs)]"""
    out = []
    for g in doc.getElementsByTagName("g"):
        if g.getAttribute("class") != "cls":
            continue
        d = g.getElementsByTagName("path")[0].getAttribute("d")
        runs = RUN.findall(d)
        for x, y, w, w2 in runs:
            assert w == w2, "a row-run that does not close: %s" % d[:80]
        out.append((g.getAttribute("data-state"), g.getAttribute("data-module"),
                    sum(int(r[2]) for r in runs),
                    int(g.getAttribute("data-pixels")), len(runs)))
    return out


def caption_from(report, size):
    cached = report["cached_bytes"]
    frags = sum(report[k] for k in ("used_frags", "free_frags", "cached_frags",
                                   "broken_frags"))
    mf = report["max_free"]["size"] if report["max_free"] else 0
    return "shm pool, %s, %s: used %s, free %s%s, largest free %s, %d fragments" % (
        report["name"], fmt_bytes(size), fmt_bytes(report["used_bytes"]),
        fmt_bytes(report["free_bytes"]),
        ", cached %s" % fmt_bytes(cached) if cached else "",
        fmt_bytes(mf), frags)


def check_shares(cls, report, size):
    drawn = {}
    for state, _, px, _, _ in cls:
        drawn[state] = drawn.get(state, 0) + px
    figures = {"used": (report["used_bytes"], report["used_frags"], HEAP),
               "free": (report["free_bytes"], report["free_frags"], 0),
               "cached": (report["cached_bytes"], report["cached_frags"], 0)}
    for state, (b, n, extra) in figures.items():
        share = drawn.get(state, 0) / PIXELS
        lo = b / size - TOLERANCE
        hi = (b + n * HEADER + extra) / size + TOLERANCE
        assert lo <= share <= hi, "%s: %.4f of the pixels, the pool says %.4f..%.4f" % (
            state, share, lo, hi)


def check_largest(doc, report):
    g = [g for g in doc.getElementsByTagName("g")
         if g.getAttribute("id") == "largest-free-1"]
    assert g, "the largest free block is not marked"
    assert int(g[0].getAttribute("data-size")) == report["max_free"]["size"], (
        "largest-free-1 is %s bytes, shm.report says %d" % (
            g[0].getAttribute("data-size"), report["max_free"]["size"]))
    assert g[0].getElementsByTagName("path")[0].getAttribute("d"), "no outline"


def check_one(svg, report_path, name, dbg):
    doc = xml.dom.minidom.parse(svg)
    report = json.load(open(report_path))
    desc = dict(kv.split("=", 1) for kv in
                text(doc.getElementsByTagName("desc")[0]).split())
    size = int(desc["size"])
    cap = [t for t in doc.getElementsByTagName("text")
           if t.getAttribute("id") == "caption"][0]
    want = caption_from(report, size)
    assert text(cap) == want, "caption:\n  %s\nnot\n  %s" % (text(cap), want)
    cls = classes(doc)
    for state, mod, px, dpx, _ in cls:
        assert px == dpx, "%s %s: %d pixels drawn, data-pixels %d" % (state, mod, px, dpx)
    assert sum(c[2] for c in cls) == PIXELS, "the map is not full"
    legend = [g for g in doc.getElementsByTagName("g") if g.getAttribute("id") == "legend"][0]
    lines = [text(t) for t in legend.getElementsByTagName("text")]
    for state, mod, _, _, _ in cls:
        label = state + (": " + mod if mod else "") + " "
        assert any(l.startswith(label) for l in lines), "legend lacks %r: %s" % (label, lines)
    if name == "leak" and dbg == "1":
        assert any(l.startswith("used: leakmod ") for l in lines), lines
    check_shares(cls, report, size)
    check_largest(doc, report)
    print("%s: %s; %d classes, %d row-runs" % (name, want, len(cls), sum(c[4] for c in cls)))


def look(svg):
    cls = classes(xml.dom.minidom.parse(svg))
    share = lambda pred: sum(c[2] for c in cls if pred(c)) / PIXELS
    return {"runs": sum(c[4] for c in cls),
            "leakmod": share(lambda c: c[1] == "leakmod"),
            "free": share(lambda c: c[0] == "free")}


def compare(healthy, fragmented, leak, dbg):
    h, f, l = look(healthy), look(fragmented), look(leak)
    print("healthy %s\nfragmented %s\nleak %s" % (h, f, l))
    assert f["runs"] > 10 * h["runs"], "fragmented is not speckled"
    assert h["free"] > 0.8, "healthy is not mostly free"
    assert l["free"] < h["free"] - 0.3, "the leak does not fill the pool"
    if dbg == "1":
        assert l["leakmod"] > 0.33 and h["leakmod"] == 0 and f["leakmod"] == 0


if __name__ == "__main__":
    if sys.argv[1] == "--compare":
        compare(*sys.argv[2:6])
    else:
        check_one(*sys.argv[1:5])
