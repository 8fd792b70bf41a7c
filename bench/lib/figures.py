"""One summary line per benchmark figure, shared by bench/run-*.sh and bench/run-all.sh.

Every benchmark script prints, besides its own table, one machine-readable line per figure
that an issue sets a goal for:

    FIGURE <tab> name <tab> median <tab> goal <tab> min <tab> max <tab> rounds

  name    a stable dotted name, e.g. fuse.seqwrite.cafs/passwb
  median  the median over the rounds of the figure (a ratio measured inside one round, so
          both sides of it saw the same load)
  goal    ">=0.95", "<=1.3" or "-" (printed, no goal)
  min/max the spread over the rounds (equal to the median for one round)
  rounds  how many rounds gave a value

bench/run-all.sh collects these lines from every script's output and prints one table; this
module is the only place that writes or reads the format.
"""

import statistics


def emit(name, values, goal="-"):
    """Prints the FIGURE line of `values` (one per round; None entries are ignored)."""
    v = sorted(x for x in values if x is not None)
    if not v:
        print(f"FIGURE\t{name}\tn/a\t{goal}\tn/a\tn/a\t0")
        return None
    m = statistics.median(v)
    print(f"FIGURE\t{name}\t{m:.3f}\t{goal}\t{v[0]:.3f}\t{v[-1]:.3f}\t{len(v)}")
    return m


def met(value, goal):
    """True/False when `goal` (">=x" / "<=x") holds for `value`, None without a goal."""
    if value is None or goal in ("", "-"):
        return None
    if goal.startswith(">="):
        return value >= float(goal[2:])
    if goal.startswith("<="):
        return value <= float(goal[2:])
    raise ValueError(f"bad goal {goal!r}")


def parse(lines):
    """The FIGURE lines among `lines` as dicts (name, median, goal, min, max, rounds)."""
    out = []
    for line in lines:
        parts = line.rstrip("\n").split("\t")
        if len(parts) != 7 or parts[0] != "FIGURE":
            continue

        def num(s):
            return None if s == "n/a" else float(s)

        out.append({"name": parts[1], "median": num(parts[2]), "goal": parts[3],
                    "min": num(parts[4]), "max": num(parts[5]), "rounds": int(parts[6])})
    return out
