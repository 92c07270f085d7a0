"""Peak resident memory of this process and its children (Dask workers), sampled in a thread."""
from __future__ import annotations

import contextlib
import threading
import time


class PeakRSS:
    """Samples the resident memory of this process and its children (Dask workers) in a thread.

    ``with PeakRSS() as peak: ...`` then ``peak.gib`` is the largest total seen (GiB) and
    ``peak.children_gib`` the largest total of the children alone.
    """

    def __init__(self, interval: float = 0.1):
        self.interval, self.peak, self.children_peak, self._stop = interval, 0, 0, threading.Event()

    def _total(self) -> int:
        import psutil
        me = psutil.Process()
        children = 0
        for child in me.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                children += child.memory_info().rss
        self.children_peak = max(self.children_peak, children)
        return me.memory_info().rss + children

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._total())
            time.sleep(self.interval)

    def __enter__(self) -> "PeakRSS":
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._total())

    @property
    def gib(self) -> float:
        return self.peak / 2 ** 30

    @property
    def children_gib(self) -> float:
        return self.children_peak / 2 ** 30
