import sys

USAGE = __import__("benchmarks").__doc__


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"train", "losses", "embed", "synthetic", "widgets", "search", "photos", "generalise"}:
        print(USAGE)
        return 2
    name, rest = argv[0], argv[1:]
    if name == "train":
        from benchmarks.train import main as run
    elif name == "losses":
        from benchmarks.losses import main as run
    elif name == "embed":
        from benchmarks.embed import main as run
    elif name == "widgets":
        from benchmarks.widgets import main as run
    elif name == "search":
        from benchmarks.search import main as run
    elif name == "photos":
        from benchmarks.photos import main as run
    elif name == "generalise":
        from benchmarks.generalise import main as run
    else:
        from benchmarks.synthetic_check import main as run
    return run(rest) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
