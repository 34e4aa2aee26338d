"""cProfile output shared by the benchmarks (`--profile`): the top functions, and own time per package."""

from __future__ import annotations

import cProfile
import io
import pstats
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent


def print_profile(profiler: cProfile.Profile, top: int, output: Path | None = None, by_package: bool = True) -> None:
    """The top functions by cumulative and by own time; by_package: own time summed per owner."""
    if output is not None:
        profiler.dump_stats(str(output))
        print(f"\nprofile saved to {output} (open with: python -m pstats {output}, or snakeviz)")
    for order, title in (("cumulative", "cumulative time"), ("tottime", "own (self) time")):
        stream = io.StringIO()
        stats = pstats.Stats(profiler, stream=stream)
        stats.strip_dirs().sort_stats(order).print_stats(top)
        print(f"\n=== top {top} functions by {title} ===")
        text = stream.getvalue()
        # pstats prints a header block first; keep from the column titles on.
        start = text.find("   ncalls")
        print(text[start:] if start >= 0 else text)
    if not by_package:
        return
    print("\n=== own (self) time by package ===")
    totals: dict[str, float] = {}
    stats = pstats.Stats(profiler)
    for (filename, _, _), (_, _, own, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        package = _package_of(filename)
        totals[package] = totals.get(package, 0.0) + own
    whole = sum(totals.values()) or 1.0
    for package, own in sorted(totals.items(), key=lambda item: -item[1]):
        print(f"  {own:>7.2f} s  {100 * own / whole:>5.1f} %  {package}")


def _package_of(filename: str) -> str:
    """A short owner for a profiled function: bot.<package>, a third-party distribution, or stdlib."""
    path = Path(filename)
    parts = path.parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].removesuffix(".py")
    if str(path).startswith(str(REPOSITORY / "bot")):
        relative = path.relative_to(REPOSITORY)
        return ".".join(relative.parts[:2]).removesuffix(".py")
    if filename.startswith("~") or filename.startswith("<"):
        return "builtins (C functions)"
    if "asyncio" in parts:
        return "stdlib asyncio"
    return "stdlib other"
