"""One row of the quickstart study (docs/quickstart-study.md) per run folder.

For each run: the linear probe (all labels) test accuracy of solo cnn-s, the
random-init cnn-s, raw pixels and the DoGo small peer, mean over seeds, and
two paired differences with 95% t-intervals over seeds: solo minus random
init (does pretraining learn?) and DoGo small peer minus solo (does DoGo
help?). The architecture names are matched by prefix, so cnn-s-g2 counts as
cnn-s. Reads `sweep results RUN --format json`.
With --ood, a second table: the same linear probes tested on the run's
first OOD set (mean over seeds), where the views' effect on robustness shows.
Usage: python3 scripts/study_table.py [--ood] bin/sweep RUN...
"""
import json
import math
import statistics
import subprocess
import sys

T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def rows(sweep, run):
    out = subprocess.run([sweep, "results", run, "--format", "json"], check=True, capture_output=True, text=True).stdout
    return [r for r in json.loads(out) if r["kind"] == "linear"]


def by_seed(rs, method, role, small):
    return {r["seed"]: r["acc_best_val_pct"] for r in rs
            if r["method"] == method and r["role"] == role and (method == "pixels" or r["arch"].startswith(small))}


def diff(a, b):
    d = [a[s] - b[s] for s in sorted(a) if s in b]
    if len(d) < 2:
        return "-"
    m, sd = statistics.mean(d), statistics.stdev(d)
    h = T975[len(d) - 1] * sd / math.sqrt(len(d))
    return f"{m:+.2f} [{m - h:+.2f}, {m + h:+.2f}]"


def mean(a):
    return f"{statistics.mean(a.values()):.2f}" if a else "-"


def ood_mean(rs, method, role, small):
    vals = [next(iter(r["ood_acc_best_val_pct"].values())) for r in rs
            if r["method"] == method and r["role"] == role and (method == "pixels" or r["arch"].startswith(small))
            and r.get("ood_acc_best_val_pct")]
    return f"{statistics.mean(vals):.2f}" if vals else "-"


def main():
    args = sys.argv[1:]
    ood = "--ood" in args
    args = [a for a in args if a != "--ood"]
    sweep, runs = args[0], args[1:]
    print("| run | raw pixels | solo cnn-s | random cnn-s | solo - random | DoGo cnn-s (small peer) | DoGo - solo "
          "| solo cnn-l | random cnn-l | solo - random | seeds |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    tables = {run: rows(sweep, run) for run in runs}
    for run, rs in tables.items():
        pix = by_seed(rs, "pixels", "reference", "")
        solo, rand = by_seed(rs, "solo", "solo", "cnn-s"), by_seed(rs, "random", "reference", "cnn-s")
        solo_l, rand_l = by_seed(rs, "solo", "solo", "cnn-l"), by_seed(rs, "random", "reference", "cnn-l")
        dogo = {r["seed"]: r["acc_best_val_pct"] for r in rs if r["method"] == "dogo" and r["role"] == "small"
                and r["arch"].startswith("cnn-s") and r["peer_arch"].startswith("cnn-l")}
        print(f"| {run.rstrip('/').split('/')[-1]} | {mean(pix)} | {mean(solo)} | {mean(rand)} | {diff(solo, rand)} | "
              f"{mean(dogo)} | {diff(dogo, solo)} | {mean(solo_l)} | {mean(rand_l)} | {diff(solo_l, rand_l)} | {len(solo)} |")
    if not ood:
        return
    print()
    print("| run (OOD test set) | raw pixels | solo cnn-s | random cnn-s | solo cnn-l | random cnn-l |")
    print("|---|---|---|---|---|---|")
    for run, rs in tables.items():
        print(f"| {run.rstrip('/').split('/')[-1]} | {ood_mean(rs, 'pixels', 'reference', '')} | "
              f"{ood_mean(rs, 'solo', 'solo', 'cnn-s')} | {ood_mean(rs, 'random', 'reference', 'cnn-s')} | "
              f"{ood_mean(rs, 'solo', 'solo', 'cnn-l')} | {ood_mean(rs, 'random', 'reference', 'cnn-l')} |")


if __name__ == "__main__":
    main()
