"""The figure table of bench/run.py: rows grouped by figure, one per dataplane."""
import csv
import sys

DP_RANK = {"nft": 0, "bpf": 1, "iptables": 2}


class Report:
    """Rows grouped by figure: a figure's rows (one per dataplane) print together, nft first,
    figures in the order they were first added (or `order`)."""

    def __init__(self):
        self.rows = []
        self.fig_order = {}

    def add(self, figure, dp, measured, unit, op, target, notes="", order=None):
        """op: '<=' or '>=' or '' (informational)."""
        if measured is None:
            ratio, ok = None, "ERROR" if op else "-"
        elif op:
            ratio = measured / target if target else None
            ok = "yes" if (measured <= target if op == "<=" else measured >= target) else "NO"
        else:
            ratio, ok = None, "-"
        if figure not in self.fig_order or order is not None:
            self.fig_order[figure] = len(self.fig_order) + 1 if order is None else order
        self.rows.append({"figure": figure, "dp": dp, "measured": measured, "unit": unit,
                          "op": op, "target": target, "ratio": ratio, "ok": ok,
                          "notes": notes})

    @staticmethod
    def fmt(v, unit=""):
        if v is None:
            return "n/a"
        if isinstance(v, float) and abs(v) < 10 and unit not in ("", "ms"):
            s = f"{v:.3f}" if unit == "x" else f"{v:.2f}"
        elif isinstance(v, float) and abs(v) < 100:
            s = f"{v:.1f}"
        else:
            s = f"{v:.0f}" if isinstance(v, float) else str(v)
        return f"{s} {unit}".strip() if unit and unit != "x" else s

    def sorted(self):
        return sorted(self.rows, key=lambda r: (self.fig_order[r["figure"]],
                                                DP_RANK.get(r["dp"], -1)))

    def print(self, title, file=sys.stdout):
        hdr = ["figure", "dataplane", "measured", "target", "ratio", "ok?", "notes"]
        body, prev = [], None
        for r in self.sorted():
            tgt = f"{r['op']} {self.fmt(r['target'], r['unit'])}" if r["op"] else "-"
            body.append(["" if r["figure"] == prev else r["figure"], r["dp"],
                         self.fmt(r["measured"], r["unit"]), tgt,
                         f"{r['ratio']:.3f}" if r["ratio"] is not None else "-", r["ok"],
                         r["notes"]])
            prev = r["figure"]
        n = len(hdr) - 1
        w = [max(len(hdr[i]), *(len(b[i]) for b in body)) for i in range(n)]
        print(f"\n{title}", file=file)
        print(" | ".join(h.ljust(w[i]) if i < n else h for i, h in enumerate(hdr)), file=file)
        print("-|-".join("-" * w[i] for i in range(n)) + "-|-" + "-" * 5, file=file)
        for b in body:
            print(" | ".join(c.ljust(w[i]) if i < n else c for i, c in enumerate(b)),
                  file=file)
        file.flush()

    def write_csv(self, path):
        with open(path, "w", newline="") as f:
            wr = csv.writer(f)
            wr.writerow(["figure", "dataplane", "measured", "unit", "target_op", "target",
                         "ratio", "ok", "notes"])
            for r in self.sorted():
                wr.writerow([r["figure"], r["dp"], "" if r["measured"] is None else
                             round(r["measured"], 3), r["unit"], r["op"], r["target"],
                             "" if r["ratio"] is None else round(r["ratio"], 4), r["ok"],
                             r["notes"]])
