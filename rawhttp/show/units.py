"""Human units for the views: sizes in binary multiples, rates, durations."""


def size(count: float) -> str:
    """1536 -> '1.5 KiB'; bytes below 1 KiB stay exact."""
    if count < 1024:
        return f"{int(count)} B"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        count /= 1024
        if count < 1024 or unit == "TiB":
            return f"{count:.1f} {unit}"
    raise AssertionError("unreachable")


def rate(count: float, seconds: float) -> str:
    return size(count / seconds) + "/s" if seconds > 0 else "-"


def duration(seconds: float) -> str:
    """A short clock for an ETA: '0:07', '12:30', '1:02:03'."""
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
